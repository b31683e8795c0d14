"""Render only what changes: a defective sample rendered inside its defect region, over its full twin.

A sample differs from its defect-free twin (same camera, lights and Cycles seed) only near the
defective pin. So the twin is rendered in full, and the sample only inside a border (region) render:
the defect box (the defective pins where they are and where they belong, `core.mask.defect_box`) grown by
`render.region_margin` pitches so the pin's shadow and nearby reflections are inside too. The region's
pixels replace the twin's; outside it the twin *is* the sample's render up to what the defect casts
beyond the margin. Cycles samples every pixel from (seed, pixel) alone, so pixels inside the region
are the very values a full render would give.

When a region would not save time (it covers most of the image) or is known not to be exact enough
(`FULL_RENDER_MODES`, measured by bench/render_scale_bench.py: PSNR >= 40 dB against full renders),
the sample is rendered in full instead. The pure part (`region_box`, `wants_region`, `psnr`) needs no
bpy; `render_region` is the Blender glue.
"""

from __future__ import annotations

import math
import os

from ..core.camera import camera_pose
from ..core.layout import pin_centre
from ..core.lighting import shadow_growth, shadow_reach
from ..core.randomize import light_preset, presets_in_use

# Modes rendered in full even when region rendering is on. Measured per mode with
# bench/render_scale_bench.py (docs/performance.md); empty means every mode passed the 40 dB check.
FULL_RENDER_MODES: frozenset = frozenset()
MAX_REGION_FRACTION = 0.5  # above this share of the image a border render saves too little to bother
PSNR_TARGET_DB = 40.0


def pitch_pixels(spec, pose, plan) -> float:
    """How many pixels one grid pitch spans at the defective pin (the margin's unit)."""
    col, row = plan.pin
    centre = pin_centre(spec, col, row)
    top = spec.pins.height / 2.0
    a, b = (centre[0], centre[1], top), (centre[0] + spec.grid.pitch, centre[1], top)
    (ua, va), (ub, vb) = pose.project([a, b])
    return math.hypot(ub - ua, vb - va)


def margin_pitches(spec, preset: str | None = None, pin=None, jitter: dict | None = None) -> float:
    """The region's border in pitches: `render.region_margin`, grown to where a moved pin's shadow can fall
    under the shot's lighting preset (every preset the spec can draw when None; core.lighting.shadow_reach),
    from the defective `pin` (col, row) when given.
    The seed's bars, not moved, keep the margin as set: measured exact (>= 53 dB) at 1 pitch
    (docs/performance.md). Moved by the shot's light_offset (`jitter` given), that margin grows by as much
    as the move lengthens a shadow (core.lighting.shadow_growth): the formula's bound is far wider than
    what these bars' shadows were measured to need (1.0-1.6 pitches where 1 is exact), and the region
    renders cost in proportion to their area."""
    margin = spec.render.region_margin
    presets = presets_in_use(spec) if preset is None else [preset]
    at = None if pin is None else pin_centre(spec, *pin)[:2]
    if presets == ["seed"]:
        if spec.randomize.light_offset is None:
            return margin
        if jitter is not None:
            return margin * shadow_growth(spec, "seed", jitter, at)
    return max(margin, shadow_reach(spec, presets, at) / spec.grid.pitch)


def region_box(spec, pose, plan, defect_box, margin: float | None = None) -> list | None:
    """Pixel box [x0, y0, x1, y1) to re-render: the defect box grown by `margin` pitches, inside the image."""
    if defect_box is None or plan is None or plan.pin is None:
        return None
    if defect_box[2] <= defect_box[0] or defect_box[3] <= defect_box[1]:
        return None  # the housing hides the defect: nothing of it reaches a pixel, render in full
    if margin is None:
        # Several defective pins: measure the shadow's reach from the part's farthest point (a bound for all).
        at = plan.pin if len(plan.defective_pins()) == 1 else None
        margin = margin_pitches(spec, light_preset(spec, plan.conditions), at, plan.jitter)
    if not math.isfinite(margin):
        return None  # light from below the pin tips: a shadow can fall anywhere, render in full
    grow = int(math.ceil(margin * pitch_pixels(spec, pose, plan)))
    width, height = spec.render.width, spec.render.height
    x0, y0, x1, y1 = defect_box
    box = [max(0, x0 - grow), max(0, y0 - grow), min(width, x1 + grow), min(height, y1 + grow)]
    if box[2] <= box[0] or box[3] <= box[1]:
        return None  # the defect is outside the picture: nothing there to re-render
    return box


def wants_region(spec, plan, box) -> bool:
    """Render this sample as region-over-twin? Only defective samples with a twin and a small enough region."""
    if not spec.render.region or plan is None or not plan.is_defective or box is None:
        return False
    if plan.mode in FULL_RENDER_MODES:
        return False
    area = (box[2] - box[0]) * (box[3] - box[1])
    return area <= MAX_REGION_FRACTION * spec.render.width * spec.render.height


def region_for(spec, plan, defect_box) -> list | None:
    """The box to region-render `plan` with, or None when it must be (or is better) rendered in full."""
    if not spec.render.region or plan is None or not plan.is_defective or defect_box is None:
        return None
    box = region_box(spec, camera_pose(spec, plan.view, plan.jitter), plan, defect_box)
    return box if wants_region(spec, plan, box) else None


def psnr(a, b, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB over the whole image (inf when identical)."""
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(peak * peak / mse)


def border_fractions(box, width: int, height: int) -> tuple:
    """Blender's border (min_x, max_x, min_y, max_y; y up) for a pixel box with v down.

    Blender turns a border into pixels by truncating fraction * size, so each edge is put half a pixel
    inside its pixel: truncation then lands exactly on the intended pixel.
    """
    x0, y0, x1, y1 = box
    return ((x0 + 0.5) / width, (x1 + 0.5) / width, (height - y1 + 0.5) / height, (height - y0 + 0.5) / height)


# --- Blender glue ------------------------------------------------------------------------------
def composite(twin, region, box, height: int):
    """The twin with `box` (v down) taken from the region render; both arrays bottom-up (H, W, 4)."""
    x0, y0, x1, y1 = box
    out = twin.copy()
    out[height - y1 : height - y0, x0:x1] = region[height - y1 : height - y0, x0:x1]
    return out


def render_region(pin_scene, path, seed: int, box, twin_path, finish=None) -> float:
    """Render the scene only inside `box` (grown by a pixel against edge rounding), paste it over the twin
    at `twin_path` and write the result -- through `finish` (pixels -> pixels, e.g. the sensor) when given --
    to `path`. Returns the seconds spent inside the render call."""
    from .pixels import load_pixels, save_pixels  # bpy: the pure part of this module imports without it
    from .render import render_image  # bpy (see above)

    scene = pin_scene.scene
    settings = scene.render
    width, height = settings.resolution_x, settings.resolution_y
    grown = [max(0, box[0] - 1), max(0, box[1] - 1), min(width, box[2] + 1), min(height, box[3] + 1)]
    min_x, max_x, min_y, max_y = border_fractions(grown, width, height)
    settings.use_border, settings.use_crop_to_border = True, False
    settings.border_min_x, settings.border_max_x = min_x, max_x
    settings.border_min_y, settings.border_max_y = min_y, max_y
    region_tmp = path.with_name(f".region-{os.getpid()}{path.suffix}")
    try:
        try:
            seconds = render_image(pin_scene, region_tmp, seed, stamp_free=False)  # pixels only: read and deleted
        finally:
            settings.use_border = False
        merged = composite(load_pixels(twin_path), load_pixels(region_tmp), box, height)
        save_pixels(merged if finish is None else finish(merged), path)
    finally:  # also after a failed write (disk full): no stray temporary render is left behind
        region_tmp.unlink(missing_ok=True)
    return seconds
