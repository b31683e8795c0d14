"""Pin shapes as convex prisms: footprint polygon, render mesh, and the half-spaces the mask uses.

Every pin is a prism along Z, centred on the origin, `pins.height` tall. The render mesh and the
mask's half-spaces come from the same footprint, so the mask matches the rendered silhouette exactly.
"""

from __future__ import annotations

import math


def footprint(pins, shape: str) -> list:
    """Counter-clockwise (x, y) corners of the pin's cross-section."""
    if shape == "square":
        w = pins.square_width / 2.0
        return [(-w, -w), (w, -w), (w, w), (-w, w)]
    if shape == "round":
        return _regular(pins.round_segments, pins.round_radius, 0.0)
    if shape == "triangle":
        # Equilateral, centroid on the pin axis, one corner pointing +Y.
        return _regular(3, pins.triangle_side / math.sqrt(3.0), math.pi / 2.0)
    if shape == "hexagon":
        return _regular(6, pins.hexagon_radius, 0.0)
    raise ValueError(f"unknown pin shape {shape!r}")


def _regular(n: int, radius: float, phase: float) -> list:
    return [
        (radius * math.cos(phase + 2 * math.pi * i / n), radius * math.sin(phase + 2 * math.pi * i / n))
        for i in range(n)
    ]


def prism_mesh(pins, shape: str):
    """(vertices, faces, smooth) of the pin mesh.

    Round pins shade smooth on their sides; their caps get their own vertices so the cap normals do
    not bend the side shading (this works the same on Blender 3.x and 4.1+, which dropped auto-smooth).
    """
    ring = footprint(pins, shape)
    n, z0, z1 = len(ring), -pins.height / 2.0, pins.height / 2.0
    verts = [(x, y, z0) for x, y in ring] + [(x, y, z1) for x, y in ring]
    sides = [(i, (i + 1) % n, n + (i + 1) % n, n + i) for i in range(n)]
    smooth_sides = shape == "round"
    if smooth_sides:
        caps_at = len(verts)
        verts += [(x, y, z0) for x, y in ring] + [(x, y, z1) for x, y in ring]
        bottom = tuple(caps_at + i for i in reversed(range(n)))
        top = tuple(caps_at + n + i for i in range(n))
    else:
        bottom = tuple(reversed(range(n)))
        top = tuple(n + i for i in range(n))
    faces = sides + [bottom, top]
    smooth = [smooth_sides] * n + [False, False]
    return verts, faces, smooth


def prism_edges(pins, shape: str) -> list:
    """Vertex pairs of the prism's edges (indices into the first 2n vertices of `prism_mesh`)."""
    n = len(footprint(pins, shape))
    return (
        [(i, (i + 1) % n) for i in range(n)]
        + [(n + i, n + (i + 1) % n) for i in range(n)]
        + [(i, n + i) for i in range(n)]
    )


def prism_planes(pins, shape: str) -> list:
    """Half-spaces (nx, ny, nz, d) with n.x <= d whose intersection is the pin (local coordinates)."""
    ring = footprint(pins, shape)
    planes = []
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        nx, ny = y1 - y0, -(x1 - x0)  # outward normal of a counter-clockwise edge
        length = math.hypot(nx, ny)
        nx, ny = nx / length, ny / length
        planes.append((nx, ny, 0.0, nx * x0 + ny * y0))
    half = pins.height / 2.0
    planes += [(0.0, 0.0, 1.0, half), (0.0, 0.0, -1.0, half)]
    return planes


def box_mesh(box):
    """(vertices, faces) of the housing block, with its top edges chamfered by `box.chamfer`."""
    c = box.chamfer
    x0, x1, y0, y1, z0, z1 = box.xmin, box.xmax, box.ymin, box.ymax, box.zmin, box.zmax
    low = [(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0)]
    if c <= 0:
        high = [(x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)]
        verts = low + high
        faces = [(3, 2, 1, 0), (4, 5, 6, 7)] + [(i, (i + 1) % 4, 4 + (i + 1) % 4, 4 + i) for i in range(4)]
        return verts, faces
    mid = [(x, y, z1 - c) for x, y, _ in low]
    top = [(x0 + c, y0 + c, z1), (x1 - c, y0 + c, z1), (x1 - c, y1 - c, z1), (x0 + c, y1 - c, z1)]
    verts = low + mid + top
    faces = [(3, 2, 1, 0), (8, 9, 10, 11)]
    faces += [(i, (i + 1) % 4, 4 + (i + 1) % 4, 4 + i) for i in range(4)]
    faces += [(4 + i, 4 + (i + 1) % 4, 8 + (i + 1) % 4, 8 + i) for i in range(4)]
    return verts, faces


def box_planes(box) -> list:
    """Half-spaces of the (chamfered) housing block in world coordinates."""
    planes = [
        (1.0, 0.0, 0.0, box.xmax),
        (-1.0, 0.0, 0.0, -box.xmin),
        (0.0, 1.0, 0.0, box.ymax),
        (0.0, -1.0, 0.0, -box.ymin),
        (0.0, 0.0, 1.0, box.zmax),
        (0.0, 0.0, -1.0, -box.zmin),
    ]
    c = box.chamfer
    if c > 0:
        s = 1.0 / math.sqrt(2.0)
        # A 45-degree cut through the top edge line, e.g. x + z <= xmax + zmax - c.
        planes += [
            (s, 0.0, s, s * (box.xmax + box.zmax - c)),
            (-s, 0.0, s, s * (-box.xmin + box.zmax - c)),
            (0.0, s, s, s * (box.ymax + box.zmax - c)),
            (0.0, -s, s, s * (-box.ymin + box.zmax - c)),
        ]
    return planes
