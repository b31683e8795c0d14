"""OK/NG by tolerance: what a line measures on a defective pin, and how far it is from the limits.

A pin is measured where an inspection measures it: its tip (the centre of its top face) against where
the tip belongs -- true position (radial distance in the board plane, mm) and height (mm, +/-) -- and
its angles: tilt of its axis from vertical, bend, twist (degrees). Each measure m against its limit t
gives the margin (t - |m|) / t (1 = nominal, 0 = on the boundary, < 0 out of tolerance); a pin's margin
is the smallest, a sample's the smallest over its defective pins. On the boundary is still OK (a part
at exactly its tolerance passes). Missing and wrong-shape pins are NG whatever the numbers (margin -1).
Pure: the numbers come from the same placement and pieces the render and the mask use.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .defects import PinDefect, bend_from, defect_placement, magnitude_to_amounts, pin_placement
from .deform import bent_tip

ALWAYS_NG = -1.0  # margin of a missing or wrong pin
NEAR_BAND = 0.1  # near_tolerance draws within +/- this share of the boundary magnitude
# Largest magnitude per angle mode that boundary search and near-boundary draws use (the spec refuses more).
SEARCH_CAP = {"tilt_x": 89.9, "tilt_y": 89.9, "bend": 89.9, "twist": 180.0}


def magnitude_cap(spec, mode: str) -> float:
    """The largest magnitude of `mode` the spec allows (a squashed tip: below a sixth of the pin height)."""
    if mode in SEARCH_CAP:
        return SEARCH_CAP[mode]
    return spec.pins.height / 6.0 * 0.999 if mode == "tip" else spec.pins.height


def tip_local(spec, defect: PinDefect) -> tuple:
    """Centre of the pin's top face in its own frame."""
    if defect.tip > 0.0:
        return (0.0, 0.0, spec.pins.height / 2.0 - defect.tip)
    return bent_tip(spec.pins, defect.bend, defect.bend_dir, bend_from(spec))


def measures(spec, defect: PinDefect) -> dict:
    """{position, height, tilt, bend, twist} of the pin as placed (mm, mm, degrees)."""
    placed = defect_placement(spec, defect).point(tip_local(spec, defect))
    nominal = pin_placement(spec, defect.col, defect.row).point((0.0, 0.0, spec.pins.height / 2.0))
    # The axis after tilting about X then Y has z component cos(tilt_x) cos(tilt_y).
    axis_z = math.cos(math.radians(defect.tilt_x)) * math.cos(math.radians(defect.tilt_y))
    tilt = math.degrees(math.acos(max(-1.0, min(1.0, axis_z))))
    return {
        "position": math.hypot(placed[0] - nominal[0], placed[1] - nominal[1]),
        "height": placed[2] - nominal[2],
        "tilt": tilt,
        "bend": defect.bend,
        "twist": defect.twist,
    }


def pin_margin(spec, defect: PinDefect) -> float:
    """Smallest (limit - |measure|) / limit of the pin; < 0 means NG."""
    if defect.mode in ("missing", "wrong_shape"):
        return ALWAYS_NG
    tol = spec.tolerance
    values = measures(spec, defect)
    return min((getattr(tol, name) - abs(value)) / getattr(tol, name) for name, value in values.items())


def judge(spec, defects) -> tuple:
    """([(ng, margin) per pin], sample ng, sample margin). Without a tolerance every defective pin is NG and
    the margins are None; with one, a sample without defective pins has margin 1 (all nominal)."""
    if not spec.tolerance.enabled:
        return [(True, None) for _ in defects], bool(defects), None
    margins = [pin_margin(spec, d) for d in defects]
    sample = min(margins, default=1.0)
    return [(m < 0.0, m) for m in margins], sample < 0.0, sample


def boundary(spec, defect: PinDefect) -> float | None:
    """The magnitude at which this pin's mode leaves the tolerance (bisection: every measure grows with
    the magnitude), or None when nothing up to the mode's cap does (or the mode has no magnitude)."""
    if defect.mode in ("ok", "missing", "wrong_shape"):
        return None
    cap = magnitude_cap(spec, defect.mode)

    def margin_at(m):
        return pin_margin(spec, replace(defect, **magnitude_to_amounts(defect.mode, m, defect)))

    if margin_at(cap) >= 0.0:
        return None
    lo, hi = 0.0, cap
    for _ in range(60):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if margin_at(mid) >= 0.0 else (lo, mid)
    return lo
