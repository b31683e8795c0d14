"""Where things are: pin cells and centres, pin indices, the housing block and the light rig.

Coordinates (the contract's): pin (col, row) is 0-based, col along X, row along Y, centre at
((col - (cols-1)/2) * pitch, (row - (rows-1)/2) * pitch, 0); pins are `pins.height` tall and centred
on z = 0, so their base is at z = -height/2. Pin index = row * cols + col (mask value = index + 1).
"""

from __future__ import annotations

import math
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
    """The housing block, or None when `housing.kind` is none."""
    h, g = spec.housing, spec.grid
    if h.kind == "none":
        return None
    half_x = g.cols * g.pitch / 2.0 + h.margin
    half_y = g.rows * g.pitch / 2.0 + h.margin
    base = pin_base_z(spec)
    return HousingBox(-half_x, half_x, -half_y, half_y, base, base + h.height, h.chamfer)


def array_extent(spec) -> tuple:
    """(half_x, half_y) of what the camera should frame: the housing, or the pin cells without one."""
    box = housing_box(spec)
    if box is not None:
        return (box.xmax, box.ymax)
    g = spec.grid
    return (g.cols * g.pitch / 2.0, g.rows * g.pitch / 2.0)


@dataclass(frozen=True)
class LightPose:
    name: str
    location: tuple
    rotation_deg: tuple
    size: float
    size_y: float


def light_rig(spec) -> list:
    """The seed's two AREA lights (METHOD.md §1), scaled with the array so other grids stay lit alike.

    The seed's array is 3 pitches wide; its lights sit 4 units to either side at height 6. Wider or
    taller grids push the lights out and lengthen the rectangle in proportion.
    """
    g, lights = spec.grid, spec.lights
    scale_x = max(1.0, g.cols * g.pitch / 3.0)
    scale_y = max(1.0, g.rows * g.pitch / 9.0)
    return [
        LightPose(
            "PinScope Light A", (4.0 * scale_x, -0.2, 6.0), (0.8, 32.0, 0.0), lights.size_x, lights.size_y * scale_y
        ),
        LightPose(
            "PinScope Light B", (-4.0 * scale_x, 0.2, 6.0), (-0.8, -32.0, 0.0), lights.size_x, lights.size_y * scale_y
        ),
    ]


def radians(values) -> tuple:
    return tuple(math.radians(v) for v in values)
