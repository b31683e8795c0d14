"""The housing as convex parts: what Blender renders and what the mask casts rays through.

Kinds (spec.housing.kind): `block` is one box (the seed's; its mesh and half-spaces stay exactly as they
always were), `shroud` is that box with four walls around the pin field (box headers), `cavities` puts
every pin in a square hole `cavity_depth` deep, `none` is no housing. Non-convex shapes are cut into
axis-aligned boxes (a plate with holes = strips between the holes); a keying notch is subtracted from
them; the 45-degree chamfer planes of the outer top edges cut whichever boxes they reach. Every part is
then convex: its half-spaces give the mask, `core.polytope` turns them into the render mesh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .layout import HousingBox, housing_box, pin_base_z
from .polytope import polytope_mesh
from .shapes import box_mesh, box_planes

NOTCH_SLACK = 1e-3  # a cut reaches this far past the faces it opens, so no paper-thin skin is left


@dataclass(frozen=True)
class HousingPart:
    planes: list  # world half-spaces (nx, ny, nz, d): inside where n.x <= d
    verts: list  # corners (world)
    faces: list  # render faces (indices into verts)

    @property
    def top(self) -> float:
        return max(v[2] for v in self.verts)


Box = tuple  # (x0, x1, y0, y1, z0, z1)


def _legacy_block(box: HousingBox) -> HousingPart:
    verts, faces = box_mesh(box)
    return HousingPart(box_planes(box), verts, faces)


def _chamfer_planes(x0, x1, y0, y1, z_top, c) -> list:
    """The 45-degree cuts through the four outer top edges at height z_top (none when c is 0)."""
    if c <= 0:
        return []
    s = 1.0 / math.sqrt(2.0)
    return [
        (s, 0.0, s, s * (x1 + z_top - c)),
        (-s, 0.0, s, s * (-x0 + z_top - c)),
        (0.0, s, s, s * (y1 + z_top - c)),
        (0.0, -s, s, s * (-y0 + z_top - c)),
    ]


def _part(box: Box, extra_planes) -> HousingPart:
    x0, x1, y0, y1, z0, z1 = box
    planes = [(1.0, 0.0, 0.0, x1), (-1.0, 0.0, 0.0, -x0), (0.0, 1.0, 0.0, y1), (0.0, -1.0, 0.0, -y0)]
    planes += [(0.0, 0.0, 1.0, z1), (0.0, 0.0, -1.0, -z0)]
    corners = [(x, y, z) for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)]
    # Only planes that cut this box: an inactive plane would cost the mask work for nothing.
    planes += [p for p in extra_planes if any(p[0] * v[0] + p[1] * v[1] + p[2] * v[2] > p[3] + 1e-12 for v in corners)]
    verts, faces = polytope_mesh(planes)
    return HousingPart(planes, verts, faces)


def subtract(box: Box, cut: Box) -> list:
    """`box` minus the axis-aligned `cut`, as up to six disjoint boxes."""
    x0, x1, y0, y1, z0, z1 = box
    cx0, cx1, cy0, cy1, cz0, cz1 = cut
    if cx0 >= x1 or cx1 <= x0 or cy0 >= y1 or cy1 <= y0 or cz0 >= z1 or cz1 <= z0:
        return [box]
    out = []
    if cx0 > x0:
        out.append((x0, cx0, y0, y1, z0, z1))
    if cx1 < x1:
        out.append((cx1, x1, y0, y1, z0, z1))
    mx0, mx1 = max(x0, cx0), min(x1, cx1)
    if cy0 > y0:
        out.append((mx0, mx1, y0, cy0, z0, z1))
    if cy1 < y1:
        out.append((mx0, mx1, cy1, y1, z0, z1))
    my0, my1 = max(y0, cy0), min(y1, cy1)
    if cz0 > z0:
        out.append((mx0, mx1, my0, my1, z0, cz0))
    if cz1 < z1:
        out.append((mx0, mx1, my0, my1, cz1, z1))
    return out


def cavity_half(spec) -> float:
    """Half the side of a pin's square hole: the widest pin shape of the grid plus the clearance."""
    widest = max(spec.pins.footprint(shape) for shape in set(spec.grid.shapes()))
    return widest / 2.0 + spec.housing.cavity_clearance


def _centres(count: int, pitch: float) -> list:
    return [(i - (count - 1) / 2.0) * pitch for i in range(count)]


def _gaps(lo: float, hi: float, centres: list, half: float) -> list:
    """The intervals of [lo, hi] between holes of half-width `half` centred on `centres`."""
    edges = [lo] + [e for c in centres for e in (c - half, c + half)] + [hi]
    return [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2) if edges[i + 1] > edges[i]]


def _plate_with_holes(spec, box: HousingBox, z0: float, z1: float) -> list:
    """The top plate of a cavities housing: full-width strips between the hole rows, and in each hole row
    the blocks between its holes."""
    g, half = spec.grid, cavity_half(spec)
    xs, ys = _centres(g.cols, g.pitch), _centres(g.rows, g.pitch)
    boxes = [(box.xmin, box.xmax, a, b, z0, z1) for a, b in _gaps(box.ymin, box.ymax, ys, half)]
    for y in ys:
        boxes += [(a, b, y - half, y + half, z0, z1) for a, b in _gaps(box.xmin, box.xmax, xs, half)]
    return boxes


def notch_box(spec, box: HousingBox, depth: float, z0: float, z1: float) -> Box | None:
    """The keying slot: `notch_width` wide, centred on the long side next to column 0 (or row 0)."""
    w = spec.housing.notch_width
    if w <= 0:
        return None
    s = NOTCH_SLACK
    if box.ymax - box.ymin >= box.xmax - box.xmin:  # long sides run along Y: cut into the x = xmin side
        return (box.xmin - s, box.xmin + depth, -w / 2.0, w / 2.0, z0 - s, z1 + s)
    return (-w / 2.0, w / 2.0, box.ymin - s, box.ymin + depth, z0 - s, z1 + s)


def _cut(boxes: list, cut: Box | None) -> list:
    if cut is None:
        return boxes
    return [piece for b in boxes for piece in subtract(b, cut)]


def housing_parts(spec) -> list:
    """The housing's convex parts (empty for kind none)."""
    h = spec.housing
    box = housing_box(spec)
    if box is None:
        return []
    if h.kind == "block" and h.notch_width <= 0:
        return [_legacy_block(box)]
    edges = (box.xmin, box.xmax, box.ymin, box.ymax)
    if h.kind == "shroud":
        top, t = box.zmax + h.wall_height, h.wall_thickness
        walls = [
            (box.xmin, box.xmin + t, box.ymin, box.ymax, box.zmax, top),
            (box.xmax - t, box.xmax, box.ymin, box.ymax, box.zmax, top),
            (box.xmin + t, box.xmax - t, box.ymin, box.ymin + t, box.zmax, top),
            (box.xmin + t, box.xmax - t, box.ymax - t, box.ymax, box.zmax, top),
        ]
        walls = _cut(walls, notch_box(spec, box, t + NOTCH_SLACK, box.zmax, top))
        chamfer = _chamfer_planes(*edges, top, h.chamfer)
        base = [_part((box.xmin, box.xmax, box.ymin, box.ymax, box.zmin, box.zmax), [])]
        return base + [_part(w, chamfer) for w in walls]
    if h.kind == "cavities":
        floor = box.zmax - h.cavity_depth
        boxes = [(box.xmin, box.xmax, box.ymin, box.ymax, box.zmin, floor)] + _plate_with_holes(
            spec, box, floor, box.zmax
        )
    else:  # a block with a notch
        boxes = [(box.xmin, box.xmax, box.ymin, box.ymax, box.zmin, box.zmax)]
    boxes = _cut(boxes, notch_box(spec, box, h.notch_depth, box.zmin, box.zmax))
    chamfer = _chamfer_planes(*edges, box.zmax, h.chamfer)
    return [_part(b, chamfer) for b in boxes]


def pin_floor(spec) -> float | None:
    """Lowest height at which a pin can show above the housing (None: no housing, the whole pin shows)."""
    box = housing_box(spec)
    if box is None:
        return None
    if spec.housing.kind == "cavities":
        return box.zmax - spec.housing.cavity_depth
    if spec.housing.kind == "shroud":
        return box.zmax
    return box.zmax - box.chamfer  # block: the lowest point of its (chamfered) top


def occludes_pins(spec) -> bool:
    """Can the housing hide part of a pin above its floor from some camera? Walls and hole rims can; the seed's
    block cannot (its top is the floor). Pins' boxes then come from the mask, not from their corners."""
    return spec.housing.kind in ("shroud", "cavities")


def part_top(spec) -> float:
    """Highest point of the housing (the shroud's walls), or the pin base without a housing."""
    box = housing_box(spec)
    if box is None:
        return pin_base_z(spec)
    if spec.housing.kind == "shroud":
        return box.zmax + spec.housing.wall_height
    return box.zmax
