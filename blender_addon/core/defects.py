"""Defect modes: what a class does to its pins, the QEU sample code, and each pin's placement and pieces.

A tilt turns the pin about the centre of its base (the seed rotated about the pin centre and then
shifted it back by sin(angle) -- the same up to (1 - cos angle) * height/2 in z; pivoting on the base is
exact and stays correct for any pin height). Tilt about X is applied first, then about Y, as in the seed.
A twist turns the pin about its own (vertical) axis; a bend and a squashed tip change its shape
(core.deform), so such a pin is drawn as convex pieces in its own frame, placed like any other pin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..contract import schema
from .deform import pin_pieces
from .geometry import Rigid, apply, euler_xyz, sub
from .layout import housing_box, other_shape, pin_base_z, pin_centre

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
    "bend": 20.0,
    "twist": 30.0,
    "tip": 0.15,
}
# Modes whose magnitude is a length (QEU codes count it in tenths of a mm); the others' are degrees.
LENGTH_MODES = ("retract", "raise", "shift", "tip")
AMOUNTS = ("dx", "dy", "dz", "tilt_x", "tilt_y", "twist", "bend", "bend_dir", "tip")


@dataclass(frozen=True)
class PinDefect:
    """What happens to one defective pin of a sample (lengths in mm, angles in degrees)."""

    col: int
    row: int
    mode: str
    shape: str
    dx: float = 0.0
    dy: float = 0.0
    dz: float = 0.0
    tilt_x: float = 0.0
    tilt_y: float = 0.0
    twist: float = 0.0  # about the pin's axis
    bend: float = 0.0  # lean of the bent pin's tip axis from vertical
    bend_dir: float = 0.0  # direction the pin bends toward, from +X in the board plane
    tip: float = 0.0  # how far the tip is squashed (mushroomed)
    magnitude: float = 0.0

    @property
    def pin(self) -> tuple:
        return (self.col, self.row)

    @property
    def qeu_code(self) -> str:
        return qeu_code(self.col, self.row, self.mode, self.magnitude)

    def amounts(self) -> dict:
        return {name: getattr(self, name) for name in AMOUNTS}


def every_mode_classes(with_ok: bool = True) -> list[dict]:
    """Spec classes (dicts) of every defect mode at its EXAMPLE_AMOUNTS magnitude, named after the mode."""
    return [
        {"name": mode, "mode": mode, "low": amount, "high": amount}
        for mode, amount in EXAMPLE_AMOUNTS.items()
        if with_ok or mode != "ok"
    ]


def draw_defect(defect_class, rng, magnitude=None) -> dict:
    """Draw the defect parameters of one pin: {dx, dy, dz, tilt_x, tilt_y, twist, bend, bend_dir, tip,
    magnitude}; `magnitude` given (sampling near a tolerance boundary) replaces the class's range."""
    mode = defect_class.mode
    values = dict.fromkeys((*AMOUNTS, "magnitude"), 0.0)
    if mode in ("ok", "missing", "wrong_shape"):
        return values
    lo, hi = defect_class.low, defect_class.high
    if magnitude is None:
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
    elif mode == "twist":
        values["twist"] = sign * magnitude
    elif mode == "bend":
        # A bend leans the pin toward any direction of the board plane (random_sign has nothing to flip).
        values["bend"], values["bend_dir"] = magnitude, rng.uniform(0.0, 360.0)
    elif mode == "tip":
        values["tip"] = magnitude
    return values


def magnitude_to_amounts(mode: str, magnitude: float, like: PinDefect | None = None) -> dict:
    """The amounts `magnitude` means for `mode`, with the sign and direction of `like` (positive, +X without)."""
    sign = -1.0 if like is not None and (like.tilt_x + like.tilt_y + like.twist) < 0 else 1.0
    out = dict.fromkeys(AMOUNTS, 0.0)
    if mode in ("retract", "raise"):
        out["dz"] = -magnitude if mode == "retract" else magnitude
    elif mode == "shift":
        angle = 0.0 if like is None else math.atan2(like.dy, like.dx)
        out["dx"], out["dy"] = magnitude * math.cos(angle), magnitude * math.sin(angle)
    elif mode in ("tilt_x", "tilt_y", "twist"):
        out[mode] = sign * magnitude
    elif mode == "bend":
        out["bend"], out["bend_dir"] = magnitude, 0.0 if like is None else like.bend_dir
    elif mode == "tip":
        out["tip"] = magnitude
    return {**out, "magnitude": magnitude}


def qeu_code(col: int, row: int, mode: str, magnitude: float) -> str:
    """The blog's sample code with 1-based column and row: 31D05 = column 3, row 1, retracted 0.5.

    Lengths count in tenths (D05 = 0.5), angles in degrees (X10 = 10 deg); non-integral amounts keep
    one decimal (X07.5). Modes without an amount use 00 (31M00 = missing pin).
    """
    if mode == "ok":
        return "OK"
    amount = abs(magnitude) * (10.0 if mode in LENGTH_MODES else 1.0)
    rounded = round(amount, 1)
    text = f"{int(rounded):02d}" if rounded == int(rounded) else f"{rounded:04.1f}"
    return f"{col + 1}{row + 1}{QEU_LETTERS[mode]}{text}"


def rendered_shape(spec, col: int, row: int, mode: str) -> str:
    nominal = spec.grid.shape_at(col, row)
    return other_shape(nominal) if mode == "wrong_shape" else nominal


def pin_placement(spec, col: int, row: int, dx=0.0, dy=0.0, dz=0.0, tilt_x=0.0, tilt_y=0.0, twist=0.0) -> Rigid:
    """Location and XYZ Euler rotation of a pin object whose origin is the pin's centre.

    The base centre b (local (0, 0, -h/2)) must land on centre + shift + b, so the location is
    centre + shift + b - R b. A twist is the Euler Z angle: applied last, it turns about the world's
    vertical, which is the pin's axis (the modes do not combine a twist with a tilt).
    """
    euler = (math.radians(tilt_x), math.radians(tilt_y), math.radians(twist))
    base = (0.0, 0.0, pin_base_z(spec))
    cx, cy, cz = pin_centre(spec, col, row)
    rb = apply(euler_xyz(*euler), base)
    pivot = sub(base, rb)
    return Rigid(euler, (cx + dx + pivot[0], cy + dy + pivot[1], cz + dz + pivot[2]))


def defect_placement(spec, defect: PinDefect) -> Rigid:
    return pin_placement(
        spec, defect.col, defect.row, defect.dx, defect.dy, defect.dz, defect.tilt_x, defect.tilt_y, defect.twist
    )


def bend_from(spec) -> float:
    """Local height where a bent pin starts to curve: the board's top (it is held straight below), else its base."""
    box = housing_box(spec)
    return pin_base_z(spec) if box is None else box.zmax


def is_deformed(defect: PinDefect) -> bool:
    """Does the pin change shape (a mesh of its own pieces) rather than just move?"""
    return defect.bend > 0.0 or defect.tip > 0.0


def defect_pieces(spec, defect: PinDefect) -> list:
    """The convex pieces (core.deform.Piece, pin frame) the defective pin is rendered and masked as."""
    return pin_pieces(spec.pins, defect.shape, defect.bend, defect.bend_dir, defect.tip, bend_from(spec))
