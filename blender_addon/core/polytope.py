"""A convex solid given as half-spaces -> its corners and faces (the render mesh of a housing part).

The mask casts rays through the same half-spaces (core.mask), so a part built here renders exactly the
silhouette the mask computes. Corners are the points where three planes meet and no plane is broken;
each face is the corners on one plane, ordered counter-clockwise seen from outside.
"""

from __future__ import annotations

import math

EPS = 1e-9


def _solve3(a, b, c):
    """The point on planes a, b, c (each (nx, ny, nz, d) with n.x = d), or None when they do not meet once."""
    (a0, a1, a2, ad), (b0, b1, b2, bd), (c0, c1, c2, cd) = a, b, c
    det = a0 * (b1 * c2 - b2 * c1) - a1 * (b0 * c2 - b2 * c0) + a2 * (b0 * c1 - b1 * c0)
    if abs(det) < 1e-12:
        return None
    x = ad * (b1 * c2 - b2 * c1) - a1 * (bd * c2 - b2 * cd) + a2 * (bd * c1 - b1 * cd)
    y = a0 * (bd * c2 - b2 * cd) - ad * (b0 * c2 - b2 * c0) + a2 * (b0 * cd - bd * c0)
    z = a0 * (b1 * cd - bd * c1) - a1 * (b0 * cd - bd * c0) + ad * (b0 * c1 - b1 * c0)
    return (x / det, y / det, z / det)


def _inside(point, planes, scale: float) -> bool:
    return all(p[0] * point[0] + p[1] * point[1] + p[2] * point[2] <= p[3] + EPS * scale for p in planes)


def corners(planes) -> list:
    """Every corner of the solid (duplicates merged), in a deterministic order."""
    scale = max(1.0, max(abs(p[3]) for p in planes))
    found: list = []
    n = len(planes)
    for i in range(n):
        for j in range(i + 1, n):
            for k in range(j + 1, n):
                point = _solve3(planes[i], planes[j], planes[k])
                if point is None or not _inside(point, planes, scale):
                    continue
                if not any(math.dist(point, q) <= 1e-7 * scale for q in found):
                    found.append(point)
    return found


def polytope_mesh(planes):
    """(vertices, faces) of the convex solid; planes that only touch an edge or a corner give no face."""
    verts = corners(planes)
    scale = max(1.0, max(abs(p[3]) for p in planes))
    faces = []
    for nx, ny, nz, d in planes:
        on = [i for i, v in enumerate(verts) if abs(nx * v[0] + ny * v[1] + nz * v[2] - d) <= 1e-7 * scale]
        if len(on) < 3:
            continue
        faces.append(_ordered(verts, on, (nx, ny, nz)))
    return verts, faces


def _ordered(verts, indices, normal):
    """Face corners sorted counter-clockwise about the outward `normal` (right-hand rule)."""
    cx = sum(verts[i][0] for i in indices) / len(indices)
    cy = sum(verts[i][1] for i in indices) / len(indices)
    cz = sum(verts[i][2] for i in indices) / len(indices)
    nx, ny, nz = normal
    # Two axes spanning the face plane: u = any direction not along n, made orthogonal; w = n x u.
    ax = (1.0, 0.0, 0.0) if abs(nx) < 0.9 else (0.0, 1.0, 0.0)
    dot = ax[0] * nx + ax[1] * ny + ax[2] * nz
    ux, uy, uz = ax[0] - dot * nx, ax[1] - dot * ny, ax[2] - dot * nz
    wx, wy, wz = ny * uz - nz * uy, nz * ux - nx * uz, nx * uy - ny * ux

    def angle(i):
        px, py, pz = verts[i][0] - cx, verts[i][1] - cy, verts[i][2] - cz
        return math.atan2(px * wx + py * wy + pz * wz, px * ux + py * uy + pz * uz)

    return tuple(sorted(indices, key=angle))
