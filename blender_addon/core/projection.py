"""One camera's projection: world points (mm) -> pixels, rays, and K / world-to-camera as rows record them.

Pixels: u to the right, v down from the top row (PNG order); pixel (i, j) covers [i, i+1) x [j, j+1) and
its centre is (i + 0.5, j + 0.5). Sensor fit is horizontal with square pixels: a perspective camera has
fx = lens / sensor_width * width (pixels), an orthographic (telecentric) one fx = width / ortho_scale
(pixels per mm). Blender's camera looks down its -Z with +Y up; what rows record is OpenCV's camera
(x right, y down, z forward), the convention most consumers expect.
"""

from __future__ import annotations

from dataclasses import dataclass

from .geometry import Rigid, apply, sub, transpose

PERSPECTIVE, ORTHOGRAPHIC = "perspective", "orthographic"


@dataclass
class CameraPose:
    """A camera placement plus intrinsics; `project` and the rays are exactly what Blender renders."""

    name: str
    location: tuple
    euler: tuple  # radians, Blender XYZ
    lens: float  # mm (perspective)
    width: int
    height: int
    sensor_width: float = 36.0  # mm the image's width spans on the sensor
    projection: str = PERSPECTIVE
    ortho_scale: float = 0.0  # mm the image's width spans in the scene (orthographic)

    def __post_init__(self):
        self._rigid = Rigid(self.euler, self.location)
        self._to_cam = transpose(self._rigid.rot)

    @property
    def rotation(self):
        return self._rigid.rot

    @property
    def orthographic(self) -> bool:
        return self.projection == ORTHOGRAPHIC

    @property
    def fx(self) -> float:
        """Pixels per unit of x / -z (perspective) or per mm (orthographic)."""
        if self.orthographic:
            return self.width / self.ortho_scale
        return self.lens / self.sensor_width * self.width

    @property
    def principal_point(self) -> tuple:
        return (self.width / 2.0, self.height / 2.0)

    def intrinsics(self) -> list:
        """3x3 K for u = right, v = down (pixels)."""
        cx, cy = self.principal_point
        return [[self.fx, 0.0, cx], [0.0, self.fx, cy], [0.0, 0.0, 1.0]]

    def world_to_camera(self) -> list:
        """4x4 world -> OpenCV camera (x right, y down, z forward): Blender's camera axes with y and z flipped."""
        rt = self._to_cam
        t = apply(rt, self.location)
        flip = (1.0, -1.0, -1.0)
        rows = [[flip[i] * rt[i][0], flip[i] * rt[i][1], flip[i] * rt[i][2], -flip[i] * t[i]] for i in range(3)]
        return rows + [[0.0, 0.0, 0.0, 1.0]]

    def to_camera(self, p) -> tuple:
        """Blender camera coordinates (looking down -Z)."""
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
            if self.orthographic:
                out.append((cx + fx * x, cy - fx * y))
            else:
                out.append((cx + fx * x / -z, cy - fx * y / -z))
        return out

    def ray(self, u: float, v: float) -> tuple:
        """(origin, direction) in world coordinates of the ray through pixel position (u, v); the
        perspective direction is not normalised (its camera-z component is -1)."""
        cx, cy = self.principal_point
        x, y = (u - cx) / self.fx, -(v - cy) / self.fx
        if self.orthographic:
            origin = tuple(a + b for a, b in zip(self.location, apply(self.rotation, (x, y, 0.0)), strict=True))
            return origin, apply(self.rotation, (0.0, 0.0, -1.0))
        return tuple(self.location), apply(self.rotation, (x, y, -1.0))
