"""Small rigid-transform helpers on plain tuples (a few hundred points per sample: no numpy needed).

Conventions follow Blender: Euler XYZ in radians means R = Rz @ Ry @ Rx (X applied first), and a
matrix_world of an unscaled object maps p -> R p + t.
"""

from __future__ import annotations

import math

Vec = tuple  # (x, y, z)
Mat3 = tuple  # ((r00, r01, r02), (r10, ...), (r20, ...)) row-major


def rot_x(a: float) -> Mat3:
    c, s = math.cos(a), math.sin(a)
    return ((1.0, 0.0, 0.0), (0.0, c, -s), (0.0, s, c))


def rot_y(a: float) -> Mat3:
    c, s = math.cos(a), math.sin(a)
    return ((c, 0.0, s), (0.0, 1.0, 0.0), (-s, 0.0, c))


def rot_z(a: float) -> Mat3:
    c, s = math.cos(a), math.sin(a)
    return ((c, -s, 0.0), (s, c, 0.0), (0.0, 0.0, 1.0))


def matmul(a: Mat3, b: Mat3) -> Mat3:
    return tuple(tuple(sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)) for i in range(3))


def transpose(a: Mat3) -> Mat3:
    return tuple(tuple(a[j][i] for j in range(3)) for i in range(3))


def euler_xyz(rx: float, ry: float, rz: float) -> Mat3:
    """Blender's XYZ Euler rotation matrix (radians): Rz @ Ry @ Rx, written out (it runs per pin)."""
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    return (
        (cy * cz, sx * sy * cz - cx * sz, cx * sy * cz + sx * sz),
        (cy * sz, sx * sy * sz + cx * cz, cx * sy * sz - sx * cz),
        (-sy, sx * cy, cx * cy),
    )


def apply(m: Mat3, v: Vec) -> Vec:
    return (
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    )


def add(a: Vec, b: Vec) -> Vec:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def sub(a: Vec, b: Vec) -> Vec:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


class Rigid:
    """p -> R p + t: an unscaled object's placement (what Blender's location + rotation_euler give)."""

    __slots__ = ("rot", "loc", "euler")

    def __init__(self, euler: Vec = (0.0, 0.0, 0.0), loc: Vec = (0.0, 0.0, 0.0)):
        self.euler = tuple(float(a) for a in euler)
        self.rot = euler_xyz(*self.euler)
        self.loc = tuple(float(c) for c in loc)

    def point(self, p: Vec) -> Vec:
        return add(apply(self.rot, p), self.loc)

    def points(self, pts) -> list:
        return [self.point(p) for p in pts]

    def plane(self, plane):
        """Move a half-space n.x <= d with the object (n stays unit length under a rotation)."""
        n = apply(self.rot, plane[:3])
        return (n[0], n[1], n[2], plane[3] + dot(n, self.loc))

    def matrix4(self) -> list:
        r, t = self.rot, self.loc
        return [
            [r[0][0], r[0][1], r[0][2], t[0]],
            [r[1][0], r[1][1], r[1][2], t[1]],
            [r[2][0], r[2][1], r[2][2], t[2]],
            [0.0, 0.0, 0.0, 1.0],
        ]
