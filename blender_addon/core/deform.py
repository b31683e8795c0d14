"""Deformed pins (bend, tip) as a few convex pieces, in the pin's own frame (origin at the pin centre).

The mask casts rays through convex solids only, so a pin that is not a straight prism is cut into convex
pieces: a bent pin is its straight foot plus a chain of `BEND_SLICES` short slices, each a rigid copy of
a slice of the pin laid along a circular arc; a mushroomed tip is the shortened shaft plus a frustum that
flares out. The Blender mesh of such a pin is made of exactly these pieces (scene.apply), so mask and
render see the same geometry. Pure: no bpy.

Bend: the pin stays straight up to `bend_from` (the housing's floor, or its base without a housing) and
curves above it with constant curvature, in the direction `bend_dir` (degrees from +X in the board plane),
until its tip axis leans `bend` degrees from vertical; the arc keeps the pin's length. Each slice lies on
the chord of its piece of arc and reaches `r * tan(step)` below it (r: the footprint's largest radius) so
the outside of every joint is closed; inside, neighbours overlap (the mask keeps the nearest hit anyway).

Tip: squashed by `tip` mm; the material moves into the top 3 * tip of the pin, which widens linearly to
TIP_FLARE times the footprint at the tip. With that length the flare keeps the pin's volume:
A (h - m - L) + A L (1 + s + s^2) / 3 = A h with L = 3m gives s^2 + s - 2 = 1, s = (sqrt(13) - 1) / 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .shapes import footprint

BEND_SLICES = 8  # slices of the curved part: at 30 deg each joint turns 3.75 deg
TIP_FLARE = (math.sqrt(13.0) - 1.0) / 2.0  # ~1.30: the squashed tip's width over the footprint (volume kept)
TIP_LENGTH = 3.0  # the flare runs over TIP_LENGTH x the squash


@dataclass
class Piece:
    """One convex piece of a pin, local coordinates. Vertex layout as core.shapes.prism_mesh: the bottom
    ring, the top ring, and (round pins) the two rings again for the caps."""

    verts: list
    faces: list
    smooth: list
    planes: list  # (nx, ny, nz, d): inside where n.x <= d
    edges: list  # index pairs into the first 2n vertices

    @property
    def corners(self) -> list:
        """The 2n distinct corners (round pieces repeat their rings for the caps' own normals)."""
        return self.verts[: 2 * len(self.edges) // 3]


def _loft(ring, bottom, top, smooth_sides: bool) -> Piece:
    """The convex piece between two rings of corners (`bottom`, `top`: n world points each, same order)."""
    n = len(ring)
    verts = list(bottom) + list(top)
    sides = [(i, (i + 1) % n, n + (i + 1) % n, n + i) for i in range(n)]
    if smooth_sides:
        verts += list(bottom) + list(top)
        caps = (tuple(2 * n + i for i in reversed(range(n))), tuple(3 * n + i for i in range(n)))
    else:
        caps = (tuple(reversed(range(n))), tuple(n + i for i in range(n)))
    faces = sides + list(caps)
    edges = [(i, (i + 1) % n) for i in range(n)] + [(n + i, n + (i + 1) % n) for i in range(n)]
    edges += [(i, n + i) for i in range(n)]
    return Piece(verts, faces, [smooth_sides] * n + [False, False], _planes(verts, faces), edges)


def _planes(verts, faces) -> list:
    """Outward half-spaces of a convex polytope from its (planar, counter-clockwise from outside) faces."""
    cx, cy, cz = (sum(v[k] for v in verts) / len(verts) for k in range(3))
    planes = []
    for face in faces:
        a, b, c = (verts[i] for i in _spread(face))
        u = (b[0] - a[0], b[1] - a[1], b[2] - a[2])
        w = (c[0] - a[0], c[1] - a[1], c[2] - a[2])
        nx, ny, nz = u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]
        length = math.sqrt(nx * nx + ny * ny + nz * nz)
        nx, ny, nz = nx / length, ny / length, nz / length
        d = nx * a[0] + ny * a[1] + nz * a[2]
        if nx * cx + ny * cy + nz * cz > d:  # the centre must be inside: flip a face wound the other way
            nx, ny, nz, d = -nx, -ny, -nz, -d
        planes.append((nx, ny, nz, d))
    return planes


def _spread(face) -> tuple:
    """Three well-separated corners of a face (a long round cap's first three corners are nearly collinear)."""
    k = len(face)
    return face[0], face[k // 3], face[(2 * k) // 3]


def _ring_at(ring, centre, axis_x, axis_y, scale: float = 1.0) -> list:
    """The footprint `ring` placed at `centre` in the plane spanned by the unit vectors axis_x, axis_y."""
    return [tuple(centre[k] + scale * (x * axis_x[k] + y * axis_y[k]) for k in range(3)) for x, y in ring]


def straight_pieces(pins, shape: str) -> list:
    ring = footprint(pins, shape)
    half = pins.height / 2.0
    ex, ey = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
    return [_loft(ring, _ring_at(ring, (0, 0, -half), ex, ey), _ring_at(ring, (0, 0, half), ex, ey), shape == "round")]


def tip_pieces(pins, shape: str, squash: float) -> list:
    """The pin squashed by `squash` mm at its tip: shaft, then a frustum flaring to TIP_FLARE at the top."""
    ring, half = footprint(pins, shape), pins.height / 2.0
    smooth, ex, ey = shape == "round", (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
    top = half - squash
    start = top - TIP_LENGTH * squash
    base = _ring_at(ring, (0, 0, -half), ex, ey)
    neck = _ring_at(ring, (0, 0, start), ex, ey)
    crown = _ring_at(ring, (0, 0, top), ex, ey, TIP_FLARE)
    return [_loft(ring, base, neck, smooth), _loft(ring, neck, crown, smooth)]


def _arc(bend_from: float, length: float, theta: float, u, angle: float) -> tuple:
    """Point of the pin's centre line at bend angle `angle` (radians) along an arc of `length`."""
    radius = length / theta
    lateral, up = radius * (1.0 - math.cos(angle)), radius * math.sin(angle)
    return (lateral * u[0], lateral * u[1], bend_from + up)


def bend_pieces(pins, shape: str, bend: float, bend_dir: float, bend_from: float) -> list:
    """The pin straight up to local z `bend_from`, then curved to lean `bend` degrees toward `bend_dir`."""
    ring, half = footprint(pins, shape), pins.height / 2.0
    smooth, ex, ey = shape == "round", (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
    bend_from = min(max(bend_from, -half), half)
    pieces = []
    if bend_from > -half:
        foot = (_ring_at(ring, (0, 0, -half), ex, ey), _ring_at(ring, (0, 0, bend_from), ex, ey))
        pieces.append(_loft(ring, *foot, smooth))
    theta, length = math.radians(bend), half - bend_from
    phi = math.radians(bend_dir)
    u = (math.cos(phi), math.sin(phi), 0.0)
    k = (-math.sin(phi), math.cos(phi), 0.0)  # the bend's axis: z turns toward u about it
    step = theta / BEND_SLICES
    overlap = max(math.hypot(x, y) for x, y in ring) * math.tan(step)
    for i in range(BEND_SLICES):
        a0, a1 = i * step, (i + 1) * step
        mid = (a0 + a1) / 2.0
        axis = (math.sin(mid) * u[0], math.sin(mid) * u[1], math.cos(mid))
        across = (math.cos(mid) * u[0], math.cos(mid) * u[1], -math.sin(mid))  # u turned with the slice
        p0, p1 = _arc(bend_from, length, theta, u, a0), _arc(bend_from, length, theta, u, a1)
        p0 = tuple(p0[j] - overlap * axis[j] for j in range(3))
        # The slice is the straight pin turned by `mid` about k: u goes to `across`, k stays, so the
        # footprint's X = cos(phi) u - sin(phi) k and Y = sin(phi) u + cos(phi) k go to fx and fy.
        fx = tuple(math.cos(phi) * across[j] - math.sin(phi) * k[j] for j in range(3))
        fy = tuple(math.sin(phi) * across[j] + math.cos(phi) * k[j] for j in range(3))
        pieces.append(_loft(ring, _ring_at(ring, p0, fx, fy), _ring_at(ring, p1, fx, fy), smooth))
    return pieces


def bent_tip(pins, bend: float, bend_dir: float, bend_from: float) -> tuple:
    """Local centre of a bent pin's top face (what true position and height are measured on)."""
    half = pins.height / 2.0
    bend_from = min(max(bend_from, -half), half)
    if bend <= 0.0 or bend_from >= half:
        return (0.0, 0.0, half)
    phi = math.radians(bend_dir)
    return _arc(
        bend_from, half - bend_from, math.radians(bend), (math.cos(phi), math.sin(phi), 0.0), math.radians(bend)
    )


def pin_pieces(pins, shape: str, bend: float = 0.0, bend_dir: float = 0.0, tip: float = 0.0, bend_from=None) -> list:
    """The convex pieces of one pin in its own frame: a straight prism, a bent chain or a squashed tip."""
    if tip > 0.0:
        return tip_pieces(pins, shape, tip)
    if bend > 0.0:
        return bend_pieces(pins, shape, bend, bend_dir, -pins.height / 2.0 if bend_from is None else bend_from)
    return straight_pieces(pins, shape)
