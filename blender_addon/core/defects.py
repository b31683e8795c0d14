"""Defect modes: what a class does to its pin, the QEU sample code, and the pin's placement.

A tilt turns the pin about the centre of its base (the seed rotated about the pin centre and then
shifted it back by sin(angle) -- the same up to (1 - cos angle) * height/2 in z; pivoting on the base is
exact and stays correct for any pin height). Tilt about X is applied first, then about Y, as in the seed.
"""

from __future__ import annotations

import math

from ..contract import schema
from .geometry import Rigid, apply, euler_xyz, sub
from .layout import other_shape, pin_base_z, pin_centre

QEU_LETTERS = schema.QEU_LETTERS  # the contract owns the code letters

# One clearly visible magnitude per mode (the seed's D05 and X10/Y10, a raise and a shift of similar size):
# the class list that benches and tests use when every defect mode must be rendered and checked.
EXAMPLE_AMOUNTS = {
    "ok": 0.0,
    "retract": 0.5,
    "raise": 0.3,
    "shift": 0.15,
    "tilt_x": 10.0,
    "tilt_y": 10.0,
    "missing": 0.0,
    "wrong_shape": 0.0,
}


def every_mode_classes(with_ok: bool = True) -> list[dict]:
    """Spec classes (dicts) of every defect mode at its EXAMPLE_AMOUNTS magnitude, named after the mode."""
    return [
        {"name": mode, "mode": mode, "low": amount, "high": amount}
        for mode, amount in EXAMPLE_AMOUNTS.items()
        if with_ok or mode != "ok"
    ]


def draw_defect(defect_class, rng) -> dict:
    """Draw the defect parameters of one sample: {dx, dy, dz, tilt_x, tilt_y, magnitude}."""
    mode = defect_class.mode
    values = dict(dx=0.0, dy=0.0, dz=0.0, tilt_x=0.0, tilt_y=0.0, magnitude=0.0)
    if mode in ("ok", "missing", "wrong_shape"):
        return values
    lo, hi = defect_class.low, defect_class.high
    magnitude = lo if lo == hi else rng.uniform(lo, hi)
    sign = -1.0 if defect_class.random_sign and rng.random() < 0.5 else 1.0
    values["magnitude"] = magnitude
    if mode == "retract":
        values["dz"] = -magnitude
    elif mode == "raise":
        values["dz"] = magnitude
    elif mode == "shift":
        # A uniformly random direction in the board plane; random_sign has nothing left to flip.
        angle = rng.uniform(0.0, 2.0 * math.pi)
        values["dx"], values["dy"] = magnitude * math.cos(angle), magnitude * math.sin(angle)
    elif mode == "tilt_x":
        values["tilt_x"] = sign * magnitude
    elif mode == "tilt_y":
        values["tilt_y"] = sign * magnitude
    return values


def qeu_code(col: int, row: int, mode: str, magnitude: float) -> str:
    """The blog's sample code with 1-based column and row: 31D05 = column 3, row 1, retracted 0.5.

    Lengths count in tenths (D05 = 0.5), angles in degrees (X10 = 10 deg); non-integral amounts keep
    one decimal (X07.5). Modes without an amount use 00 (31M00 = missing pin).
    """
    if mode == "ok":
        return "OK"
    amount = abs(magnitude) * (10.0 if mode in ("retract", "raise", "shift") else 1.0)
    rounded = round(amount, 1)
    text = f"{int(rounded):02d}" if rounded == int(rounded) else f"{rounded:04.1f}"
    return f"{col + 1}{row + 1}{QEU_LETTERS[mode]}{text}"


def rendered_shape(spec, col: int, row: int, mode: str) -> str:
    nominal = spec.grid.shape_at(col, row)
    return other_shape(nominal) if mode == "wrong_shape" else nominal


def pin_placement(spec, col: int, row: int, dx=0.0, dy=0.0, dz=0.0, tilt_x=0.0, tilt_y=0.0) -> Rigid:
    """Location and XYZ Euler rotation of a pin object whose origin is the pin's centre.

    The base centre b (local (0, 0, -h/2)) must land on centre + shift + b, so the location is
    centre + shift + b - R b.
    """
    euler = (math.radians(tilt_x), math.radians(tilt_y), 0.0)
    base = (0.0, 0.0, pin_base_z(spec))
    cx, cy, cz = pin_centre(spec, col, row)
    rb = apply(euler_xyz(*euler), base)
    pivot = sub(base, rb)
    return Rigid(euler, (cx + dx + pivot[0], cy + dy + pivot[1], cz + dz + pivot[2]))
