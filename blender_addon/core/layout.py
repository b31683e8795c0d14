"""Where things are: pin cells and centres, pin indices, and the housing's outer box.

Coordinates (the contract's): pin (col, row) is 0-based, col along X, row along Y, centre at
((col - (cols-1)/2) * pitch, (row - (rows-1)/2) * pitch, 0); pins are `pins.height` tall and centred
on z = 0, so their base is at z = -height/2. Pin index = row * cols + col (mask value = index + 1).
"""

from __future__ import annotations

from dataclasses import dataclass


def pin_index(spec, col: int, row: int) -> int:
    return row * spec.grid.cols + col


def pin_cell(spec, index: int) -> tuple:
    return (index % spec.grid.cols, index // spec.grid.cols)


def pin_cells(spec) -> list:
    """(col, row) of every pin in pin-index order."""
    return [(c, r) for r in range(spec.grid.rows) for c in range(spec.grid.cols)]


def pin_centre(spec, col: int, row: int) -> tuple:
    g = spec.grid
    return ((col - (g.cols - 1) / 2.0) * g.pitch, (row - (g.rows - 1) / 2.0) * g.pitch, 0.0)


def pin_base_z(spec) -> float:
    return -spec.pins.height / 2.0


def other_shape(shape: str) -> str:
    """The shape a `wrong_shape` defect puts where `shape` belongs (square <-> round)."""
    return {"square": "round", "round": "square"}[shape]


@dataclass(frozen=True)
class HousingBox:
    """The housing block's extent; the pins' cells plus `margin`, from the pin base to its top."""

    xmin: float
    xmax: float
    ymin: float
    ymax: float
    zmin: float
    zmax: float
    chamfer: float

    @property
    def top(self) -> float:
        return self.zmax


def housing_box(spec):
    """The housing's outer box (core.housing cuts walls, holes and notches from it), or None without one."""
    h, g = spec.housing, spec.grid
    if h.kind == "none":
        return None
    half_x = g.cols * g.pitch / 2.0 + h.margin
    half_y = g.rows * g.pitch / 2.0 + h.margin
    base = pin_base_z(spec)
    return HousingBox(-half_x, half_x, -half_y, half_y, base, base + h.height, h.chamfer)
