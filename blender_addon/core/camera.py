"""The camera rig: where each view's camera is for one shot (optics + jitter), and its clip planes.

The seed's rig (docs/method.md §1): cameras 14 mm above the pins looking straight down, rolled 90 deg
about Z so the array's long axis (Y) runs across the image; left/right cameras sit `offset` along Y and
tilt `tilt` degrees back toward the array. Per-shot jitter shifts a camera by (cam_dx, cam_dy) with the
matching small tilts atan(d / height) that keep it aimed, and rolls it by cam_roll degrees. That formula
is kept bit for bit for specs that do not fit the camera (`Optics.legacy`); every other placement aims
each camera exactly at the part (`optics.aim_euler`) and scales the shift with the part.
Projection maths: core.projection; lens, sensor and fitting: core.optics.
"""

from __future__ import annotations

import math

from .optics import (
    VIEW_SIDE,
    aim_euler,
    defect_room,
    effective_sensor_width,
    jitter_extremes,
    optics_for,
    part_box,
    zoomed,
)
from .projection import CameraPose

SENSOR_WIDTH = 36.0  # the seed's full-frame sensor width (mm)

__all__ = ["SENSOR_WIDTH", "VIEW_SIDE", "CameraPose", "camera_pose", "clip_range", "fill_range", "extreme_poses"]


def camera_pose(spec, view: str, jitter: dict | None = None) -> CameraPose:
    """Pose of `view` for one shot. `jitter` holds cam_dx, cam_dy (mm at the seed's scale) and cam_roll
    (deg); None = no jitter."""
    cam, render = spec.camera, spec.render
    if view not in cam.views:
        raise ValueError(f"view must be one of {', '.join(cam.views)}, got {view!r}")
    optics = optics_for(spec)
    jitter = jitter or {}
    dx, dy = jitter.get("cam_dx", 0.0), jitter.get("cam_dy", 0.0)
    roll = jitter.get("cam_roll", 0.0)
    distance, focal = jitter.get("cam_distance", 1.0), jitter.get("cam_focal", 1.0)
    base = zoomed(optics.aim, optics.locations[view], distance)
    if optics.legacy:
        location = (dx, base[1] + dy, base[2])
        height = base[2]
        euler = (
            math.atan2(dx, height),
            math.radians(VIEW_SIDE[view] * cam.tilt) + math.atan2(dy, height),
            math.radians(90.0 + roll),
        )
    else:
        location = (base[0] + dx * optics.scale, base[1] + dy * optics.scale, base[2])
        euler = aim_euler(location, optics.aim, optics.roll + roll)
    return CameraPose(
        view,
        location,
        euler,
        optics.lens * focal,
        render.width,
        render.height,
        effective_sensor_width(spec),
        optics.projection,
        optics.ortho_scale / focal,
    )


def extreme_poses(spec) -> list:
    """Every view under every corner of the jitter box (and without jitter)."""
    poses = []
    for view in spec.camera.views:
        for dx, dy, roll, distance, focal in jitter_extremes(spec, 1.0):
            jitter = {"cam_dx": dx, "cam_dy": dy, "cam_roll": roll, "cam_distance": distance, "cam_focal": focal}
            poses.append(camera_pose(spec, view, jitter))
    return poses


def clip_range(spec) -> tuple:
    """(clip_start, clip_end) holding the whole part in every view and jitter. Keeps the seed's 0.05 .. 100 where
    they hold it, so the seed renders as it always did."""
    depths = [-pose.to_camera(c)[2] for pose in extreme_poses(spec) for c in defect_room(spec).corners()]
    near, far = min(depths), max(depths)
    if optics_for(spec).fitted:
        return (max(near * 0.5, 1e-4), far * 3.0)
    return (0.05 if near > 0.1 else max(near * 0.5, 1e-4), max(100.0, spec.camera.height * 4.0, far * 3.0))


def fill_range(spec) -> tuple:
    """(smallest, largest) share of the limiting image side the part's box spans, over every view and jitter:
    what the panel and dataset.json report."""
    corners = part_box(spec).corners()
    spans = []
    for pose in extreme_poses(spec):
        pts = pose.project(corners)
        us, vs = [p[0] for p in pts], [p[1] for p in pts]
        spans.append(max((max(us) - min(us)) / pose.width, (max(vs) - min(vs)) / pose.height))
    return min(spans), max(spans)


def optics_summary(spec) -> list[str]:
    """What the camera does for this part, in an inspection engineer's terms (the panel shows it)."""
    optics = optics_for(spec)
    width, height = spec.render.width, spec.render.height
    if optics.projection == "orthographic":
        fov = optics.ortho_scale
        lens = f"telecentric, magnification {optics.sensor_width / optics.ortho_scale:.3g}x"
    else:
        fov = optics.distance * optics.sensor_width / optics.lens
        lens = f"lens {optics.lens:.3g} mm"
    low, high = fill_range(spec)
    how = "fitted" if optics.fitted else "as placed"
    return [
        f"Camera {how}: {optics.distance:.4g} mm from the pin tips, {lens}",
        f"Field of view {fov:.3g} x {fov * height / width:.3g} mm, {fov / width * 1000:.3g} um per pixel",
        f"Part spans {low:.2f}-{high:.2f} of the image (fill {spec.camera.fill:.2f})",
    ]
