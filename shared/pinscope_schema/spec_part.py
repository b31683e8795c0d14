"""The part: the pin grid, the pins and the housing they stand in. Every length is in millimetres.

Coordinates (the contract's): pin (col, row) is 0-based, col along X, row along Y, centre at
((col - (cols-1)/2) * pitch, (row - (rows-1)/2) * pitch, 0); pins are `pins.height` tall, centred on
z = 0, so their base is at z = -height/2. Pin index (mask value - 1, `pin_boxes` order) = row * cols + col.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import ContractError, Record, choice, color, integer, join, number, text

SHAPES = ("square", "round", "triangle", "hexagon")
SHAPE_LETTERS = {"S": "square", "R": "round", "T": "triangle", "H": "hexagon"}
PATTERNS = ("mixed", "square", "round", "checker", "triangle", "hexagon", "explicit")
# block: the seed's rectangular body; shroud: a body with walls around the pin field (box headers);
# cavities: every pin stands in a recessed hole; none: pins alone.
HOUSING_KINDS = ("block", "shroud", "cavities", "none")


@dataclass
class GridSpec(Record):
    cols: int = integer(3, 1, 64, "Pins along X (the seed's 3 columns).", ui="Columns")
    rows: int = integer(9, 1, 64, "Pins along Y (the seed's 9 rows).", ui="Rows")
    pitch: float = number(1.0, 0.05, 100.0, "Distance between neighbouring pin centres (mm).", unit="LENGTH")
    pattern: str = choice(
        "mixed",
        PATTERNS,
        "Per-cell shape: mixed = the seed's rule (round where (col == 1 and row % 3 == 0) or "
        "(col != 1 and (row + 1) % 3 == 0)), checker alternates square/round, explicit reads `cells`.",
    )
    cells: str = text(
        "",
        "Explicit pattern: one group per row (row 0 first) separated by '/', one letter per column: "
        "S square, R round, T triangle, H hexagon. Used when pattern is explicit.",
        pattern=r"[SRTH/]*",
    )

    def check(self, path):
        if self.pattern == "explicit":
            groups = self.cells.split("/") if self.cells else []
            if len(groups) != self.rows or any(len(g) != self.cols for g in groups):
                raise ContractError(
                    join(path, "cells"),
                    f"must hold {self.rows} groups of {self.cols} letters (S, R, T, H) separated by '/', "
                    f"got {self.cells!r}",
                )

    def shape_at(self, col: int, row: int) -> str:
        """Pin shape of one cell. The seed's `mixed` rule counts col/row from 0 (x in 0..2, y in 0..8)."""
        p = self.pattern
        if p in SHAPES:
            return p
        if p == "mixed":
            is_round = (col == 1 and row % 3 == 0) or (col != 1 and (row + 1) % 3 == 0)
            return "round" if is_round else "square"
        if p == "checker":
            return "square" if (col + row) % 2 == 0 else "round"
        return SHAPE_LETTERS[self.cells.split("/")[row][col]]

    def shapes(self) -> list[str]:
        """Shapes of every pin in pin-index order (row * cols + col)."""
        return [self.shape_at(c, r) for r in range(self.rows) for c in range(self.cols)]

    @property
    def pin_count(self) -> int:
        return self.rows * self.cols


@dataclass
class PinSpec(Record):
    height: float = number(
        2.0, 0.05, 100.0, "Pin length in mm, from its base at the housing's bottom (seed: 2).", unit="LENGTH"
    )
    square_width: float = number(0.5, 0.01, 100.0, "Side of a square pin (mm).", unit="LENGTH")
    round_radius: float = number(0.25, 0.005, 50.0, "Radius of a round pin (mm).", unit="LENGTH")
    triangle_side: float = number(0.5, 0.01, 100.0, "Side of a triangular pin (mm).", unit="LENGTH")
    hexagon_radius: float = number(0.25, 0.005, 50.0, "Circumradius of a hexagonal pin (mm).", unit="LENGTH")
    round_segments: int = integer(32, 6, 256, "Facets of a round pin.")
    color: list = color((0.5, 0.8, 0.8), "Base colour of the pins (seed: about (0.4-0.6, 0.8, 0.8)).")
    color_jitter: float = number(0.1, 0.0, 0.5, "Per-sample uniform jitter of each colour channel (+/-).")
    roughness: float = number(0.35, 0.0, 1.0, "Principled BSDF roughness of the pins.")
    metallic: float = number(0.6, 0.0, 1.0, "Principled BSDF metallic of the pins.")

    def footprint(self, shape: str) -> float:
        """Largest width of a pin of `shape` seen from above (to check it fits in the pitch)."""
        return {
            "square": self.square_width,
            "round": 2.0 * self.round_radius,
            "triangle": self.triangle_side,
            "hexagon": 2.0 * self.hexagon_radius,
        }[shape]

    def width_field(self, shape: str) -> str:
        return {
            "square": "square_width",
            "round": "round_radius",
            "triangle": "triangle_side",
            "hexagon": "hexagon_radius",
        }[shape]


@dataclass
class HousingSpec(Record):
    kind: str = choice(
        "block",
        HOUSING_KINDS,
        "Housing the pins stand in: block (a rectangular body), shroud (a body with walls around the pin "
        "field, as on box headers), cavities (each pin in a recessed hole), or none.",
    )
    margin: float = number(0.5, 0.0, 50.0, "Housing border beyond the outer pins' cells (mm).", unit="LENGTH")
    height: float = number(
        0.8,
        0.0,
        100.0,
        "Height of the housing top above the pins' base, in mm (must be above 0, below the pin).",
        unit="LENGTH",
    )
    chamfer: float = number(
        0.0, 0.0, 10.0, "Bevel of the housing's outer top edges in mm (shroud: of the walls; 0 = sharp).", unit="LENGTH"
    )
    color: list = color((0.08, 0.08, 0.09), "Housing colour.")
    wall_height: float = number(
        2.0, 0.0, 100.0, "Shroud: height of the walls above the housing top (mm).", unit="LENGTH", since=2
    )
    wall_thickness: float = number(
        0.3,
        0.0,
        50.0,
        "Shroud: wall thickness in mm, inside the margin (must be below margin).",
        unit="LENGTH",
        since=2,
    )
    cavity_depth: float = number(
        0.5, 0.0, 100.0, "Cavities: depth of each pin's hole below the housing top (mm).", unit="LENGTH", since=2
    )
    cavity_clearance: float = number(
        0.1, 0.0, 50.0, "Cavities: gap between a pin and its square hole's wall (mm).", unit="LENGTH", since=2
    )
    notch_width: float = number(
        0.0,
        0.0,
        1000.0,
        "Keying notch width in mm (0 = none): a slot in the middle of the long side next to column 0 "
        "(shroud: a gap in that wall; block/cavities: a slot notch_depth deep into the body).",
        unit="LENGTH",
        since=2,
    )
    notch_depth: float = number(
        0.3, 0.0, 50.0, "Keying notch depth into a block or cavities body (mm, below margin).", unit="LENGTH", since=2
    )

    def check(self, path):
        if self.kind == "shroud" and not 0 < self.wall_thickness < self.margin:
            raise ContractError(
                join(path, "wall_thickness"),
                f"must be above 0 and below spec.housing.margin ({self.margin}) for a shroud, "
                f"got {self.wall_thickness}",
            )
        if self.kind == "shroud" and self.wall_height <= 0:
            raise ContractError(join(path, "wall_height"), f"must be above 0 for a shroud, got {self.wall_height}")
        if self.kind == "cavities" and not 0 < self.cavity_depth < self.height:
            raise ContractError(
                join(path, "cavity_depth"),
                f"must be above 0 and below spec.housing.height ({self.height}) for cavities, got {self.cavity_depth}",
            )
        if self.notch_width > 0 and self.kind in ("block", "cavities") and not 0 < self.notch_depth < self.margin:
            raise ContractError(
                join(path, "notch_depth"),
                f"must be above 0 and below spec.housing.margin ({self.margin}) for a notch, got {self.notch_depth}",
            )
        if self.notch_width > 0 and self.kind == "none":
            raise ContractError(join(path, "notch_width"), "a notch needs a housing (kind block, shroud or cavities)")
