"""Camera rig and projection: where each view's camera is, and world points -> pixels.

The seed's rig (METHOD.md §1): cameras at height 14 looking straight down, rolled 90 deg about Z so the
array's long axis (Y) runs across the image; left/right cameras sit `offset` along Y and tilt
`tilt` degrees back toward the array. Per-shot jitter shifts a camera by (cam_dx, cam_dy) with the
matching small tilts atan(d / height) that keep it aimed, and rolls it by cam_roll degrees.

Pixels: u to the right, v down from the top row (PNG order); pixel (i, j) covers [i, i+1) x [j, j+1)
and its centre is (i + 0.5, j + 0.5). Sensor fit is horizontal: fx = lens / sensor_width * width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .geometry import Rigid, apply, sub, transpose

SENSOR_WIDTH = 36.0
VIEW_SIDE = {"left": -1.0, "centre": 0.0, "right": 1.0}


@dataclass
class CameraPose:
    """A camera placement plus intrinsics; `project` and `ray` are exactly what Blender renders."""

    name: str
    location: tuple
    euler: tuple  # radians, Blender XYZ
    lens: float
    width: int
    height: int
    sensor_width: float = SENSOR_WIDTH

    def __post_init__(self):
        self._rigid = Rigid(self.euler, self.location)
        self._to_cam = transpose(self._rigid.rot)

    @property
    def rotation(self):
        return self._rigid.rot

    @property
    def fx(self) -> float:
        return self.lens / self.sensor_width * self.width

    @property
    def principal_point(self) -> tuple:
        return (self.width / 2.0, self.height / 2.0)

    def intrinsics(self) -> list:
        """3x3 K matrix for u = right, v = down (pixels)."""
        cx, cy = self.principal_point
        return [[self.fx, 0.0, cx], [0.0, self.fx, cy], [0.0, 0.0, 1.0]]

    def extrinsics(self) -> list:
        """3x4 world -> camera matrix [R^T | -R^T C] (Blender camera: looks down its -Z, Y up)."""
        rt = self._to_cam
        t = apply(rt, self.location)
        return [[rt[i][0], rt[i][1], rt[i][2], -t[i]] for i in range(3)]

    def to_camera(self, p) -> tuple:
        return apply(self._to_cam, sub(p, self.location))

    def project(self, points) -> list:
        """World points -> [(u, v)] in pixels (v from the top). Points must lie in front of the camera."""
        fx = self.fx
        cx, cy = self.principal_point
        out = []
        for p in points:
            x, y, z = self.to_camera(p)
            if z >= 0:
                raise ValueError(f"point {p} is behind the camera {self.name}")
            out.append((cx + fx * x / -z, cy - fx * y / -z))
        return out

    def ray(self, u: float, v: float) -> tuple:
        """World direction (not normalised) of the ray through pixel position (u, v)."""
        cx, cy = self.principal_point
        return apply(self.rotation, ((u - cx) / self.fx, -(v - cy) / self.fx, -1.0))


def camera_pose(spec, view: str, jitter: dict | None = None) -> CameraPose:
    """Pose of `view` for one shot. `jitter` holds cam_dx, cam_dy (units) and cam_roll (deg); None = none."""
    cam, render = spec.camera, spec.render
    if view not in cam.views:
        raise ValueError(f"view must be one of {', '.join(cam.views)}, got {view!r}")
    jitter = jitter or {}
    dx, dy = jitter.get("cam_dx", 0.0), jitter.get("cam_dy", 0.0)
    roll = jitter.get("cam_roll", 0.0)
    side = VIEW_SIDE[view]
    location = (dx, side * cam.offset + dy, cam.height)
    euler = (
        math.atan2(dx, cam.height),
        math.radians(side * cam.tilt) + math.atan2(dy, cam.height),
        math.radians(90.0 + roll),
    )
    return CameraPose(view, location, euler, cam.lens, render.width, render.height)
