"""Exact instance masks and pixel boxes from geometry, without rendering.

Every pin and every housing part is a convex solid (an intersection of half-spaces: core.shapes,
core.housing), so the object a pixel shows is found by casting the pixel-centre ray through each solid
(slab test) and keeping the nearest hit: pixel = pin index + 1, 0 for housing or background. This is the
same geometry Blender renders, costs a few milliseconds with numpy, is never anti-aliased, and does not
depend on the render engine. Perspective rays start at the camera; orthographic (telecentric) rays are
parallel and start on the camera's plane.

Boxes: with the seed's block (or no housing) a pin's box is the pixel box [x0, y0, x1, y1) of the part of
the pin above the housing's lowest top point, projected through the camera; every mask pixel of the pin
lies inside it. Walls and hole rims (shroud, cavities) can hide part of a pin, so there a pin's box is the
box of its pixels in the mask: what is visible, and [0, 0, 0, 0] (listed in `hidden_pins`) when nothing is.
The defect box is the union of the defective pins' boxes as rendered and where they belong (a
shifted, tilted or missing pin changes the image in both places). A bent or squashed pin is several
convex pieces (core.deform) with one mask value: the nearest piece a ray enters is what it shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .defects import defect_pieces, defect_placement, is_deformed, pin_placement
from .housing import housing_parts, occludes_pins, pin_floor
from .layout import housing_box, pin_cells, pin_index
from .shapes import prism_edges, prism_mesh, prism_planes

EMPTY_BOX = [0, 0, 0, 0]


@dataclass
class Solid:
    value: int  # mask value: pin index + 1, or 0 for an occluder (the housing)
    planes: list  # world half-spaces (nx, ny, nz, d): inside where n.x <= d
    verts: list  # world corners (for the screen-space bound and the boxes)
    edges: list  # vertex index pairs (for clipping)
    visible: list | None = None  # corners of the part that can show (a tighter screen bound), if known

    @property
    def bound_verts(self) -> list:
        return self.visible if self.visible else self.verts


def pin_solid(spec, col: int, row: int, shape: str, placement) -> Solid:
    verts, _faces, _smooth = prism_mesh(spec.pins, shape)
    n = len(verts) if shape != "round" else len(verts) // 2  # round caps repeat the ring vertices
    return Solid(
        value=pin_index(spec, col, row) + 1,
        planes=[placement.plane(p) for p in prism_planes(spec.pins, shape)],
        verts=placement.points(verts[:n]),
        edges=prism_edges(spec.pins, shape),
    )


def defect_solids(spec, defect) -> list:
    """The solids of one defective pin (core.defects.PinDefect) as rendered: one, or its pieces."""
    col, row = defect.col, defect.row
    shape = defect.shape or spec.grid.shape_at(col, row)
    placement = defect_placement(spec, defect)
    if not is_deformed(defect):
        return [pin_solid(spec, col, row, shape, placement)]
    value = pin_index(spec, col, row) + 1
    return [
        Solid(value, [placement.plane(p) for p in piece.planes], placement.points(piece.corners), piece.edges)
        for piece in defect_pieces(spec, defect)
    ]


def placement_for(spec, plan, col: int, row: int):
    """The pin's placement in this plan: displaced if it is a defective pin, nominal otherwise."""
    for defect in plan.defective_pins() if plan is not None else []:
        if defect.pin == (col, row):
            return defect_placement(spec, defect)
    return pin_placement(spec, col, row)


_NOMINAL: dict = {}  # spec fingerprint -> (pin solids, their visible corners, housing solids)


def _nominal(spec):
    """Defect-free solids of a spec, built once: a sample only replaces its defective pins.
    Pins are lists of solids (a deformed pin has several pieces)."""
    key = spec.fingerprint()
    cached = _NOMINAL.get(key)
    if cached is None:
        pins = [
            [pin_solid(spec, col, row, spec.grid.shape_at(col, row), pin_placement(spec, col, row))]
            for col, row in pin_cells(spec)
        ]
        for (solid,) in pins:
            solid.visible = _visible_part(spec, solid)
        housing = [Solid(0, part.planes, part.verts, []) for part in housing_parts(spec)]
        if len(_NOMINAL) >= 8:
            _NOMINAL.clear()
        cached = _NOMINAL[key] = (pins, [s.visible for (s,) in pins], housing)
    return cached


def _frame(spec, plan):
    """(per pin its solids as rendered, [] for a missing pin; visible corners per pin; housing solids)."""
    pins, visible, housing = _nominal(spec)
    defects = [] if plan is None else plan.defective_pins()
    if not defects:
        return pins, visible, housing
    pins, visible = list(pins), list(visible)
    for defect in defects:
        index = pin_index(spec, defect.col, defect.row)
        if defect.mode == "missing":
            pins[index] = []  # gone from the render; its box stays where it belongs
            continue
        pins[index] = defect_solids(spec, defect)
        for solid in pins[index]:
            solid.visible = _visible_part(spec, solid)
        visible[index] = [v for solid in pins[index] for v in solid.visible]
    return pins, visible, housing


def scene_solids(spec, plan) -> list:
    """All solids as rendered for `plan` (None = defect-free): visible pins, then the housing parts."""
    pins, _visible, housing = _frame(spec, plan)
    return [s for solids in pins for s in solids] + list(housing)


def _bounds(pose, vert_lists) -> list:
    """(umin, vmin, umax, vmax) of each list of world points, projected in one batch."""
    if not vert_lists:
        return []
    counts = [len(v) for v in vert_lists]
    pts = np.array([p for verts in vert_lists for p in verts], float) - np.array(pose.location)
    cam = pts @ np.array(pose.rotation)  # rows: R^T (p - C)
    if (cam[:, 2] >= 0).any():
        raise ValueError(f"a point lies behind the camera {pose.name}")
    cx, cy = pose.principal_point
    if pose.orthographic:
        u = cx + pose.fx * cam[:, 0]
        v = cy - pose.fx * cam[:, 1]
    else:
        u = cx + pose.fx * cam[:, 0] / -cam[:, 2]
        v = cy - pose.fx * cam[:, 1] / -cam[:, 2]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return list(
        zip(
            np.minimum.reduceat(u, starts).tolist(),
            np.minimum.reduceat(v, starts).tolist(),
            np.maximum.reduceat(u, starts).tolist(),
            np.maximum.reduceat(v, starts).tolist(),
            strict=True,
        )
    )


def _pixel_range(pose, bound) -> tuple:
    umin, vmin, umax, vmax = bound
    # Pixel i is tested at its centre i + 0.5, so it can only be inside when min <= i + 0.5 <= max.
    i0 = max(0, math.floor(umin - 0.5))
    i1 = min(pose.width, math.ceil(umax - 0.5) + 1)
    j0 = max(0, math.floor(vmin - 0.5))
    j1 = min(pose.height, math.ceil(vmax - 0.5) + 1)
    return i0, i1, j0, j1


def rasterise(pose, solids):
    """The instance mask: a uint16 array (H, W), pixel = pin index + 1 (0: housing or background)."""
    width, height = pose.width, pose.height
    mask = np.zeros((height, width), np.uint16)
    pins, occluders = [s for s in solids if s.value > 0], [s for s in solids if s.value == 0]
    pixel, depth, values = _pin_hits(pose, pins)
    if pixel.size == 0:
        return mask
    for occluder, bound in zip(occluders, _bounds(pose, [s.verts for s in occluders]), strict=True):
        pixel, depth, values = _drop_hidden(pose, occluder, bound, pixel, depth, values)
    order = np.lexsort((depth, pixel))  # by pixel, nearest first
    pixel, values = pixel[order], values[order]
    first = np.ones(pixel.size, bool)
    first[1:] = pixel[1:] != pixel[:-1]
    mask.ravel()[pixel[first]] = values[first]
    return mask


def _pin_hits(pose, pins):
    """(pixel, depth, value) of every pixel-centre ray entering a pin (a pixel can appear once per pin)."""
    width = pose.width
    # Group pins by plane count so no work is wasted on padding (squares 6 planes, rounds 34).
    groups: dict = {}
    for solid, bound in zip(pins, _bounds(pose, [s.bound_verts for s in pins]), strict=True):
        groups.setdefault(len(solid.planes), []).append((solid, bound))
    pixel_parts, depth_parts, value_parts = [], [], []
    for pairs in groups.values():
        members = [solid for solid, _ in pairs]
        ii, jj, sid = _candidate_pixels(pose, [bound for _, bound in pairs])
        if ii.size == 0:
            continue
        planes = np.array([s.planes for s in members], float)
        dist = _entry_depth(pose, planes, ii, jj, sid)
        hit = np.isfinite(dist)
        pixel_parts.append((jj * width + ii)[hit])
        depth_parts.append(dist[hit])
        value_parts.append(np.array([s.value for s in members], np.uint16)[sid[hit]])
    if not pixel_parts:
        return np.zeros(0, np.intp), np.zeros(0), np.zeros(0, np.uint16)
    return np.concatenate(pixel_parts), np.concatenate(depth_parts), np.concatenate(value_parts)


def _drop_hidden(pose, occluder, bound, pixel, depth, values):
    """Remove the pin hits that `occluder` (a housing part) covers: the ray enters it first."""
    jj, ii = np.divmod(pixel, pose.width)
    i0, i1, j0, j1 = _pixel_range(pose, bound)
    near = (ii >= i0) & (ii < i1) & (jj >= j0) & (jj < j1)
    # Only hits below the occluder's top can be hidden by it (the camera looks down from above it).
    near &= _hit_z(pose, ii, jj, depth) < _top(occluder, pose)
    if not near.any():
        return pixel, depth, values
    planes = np.array([occluder.planes], float)
    blocked = np.zeros(pixel.size, bool)
    sid = np.zeros(int(near.sum()), np.intp)
    blocked[near] = _entry_depth(pose, planes, ii[near], jj[near], sid) < depth[near]
    return pixel[~blocked], depth[~blocked], values[~blocked]


def _top(occluder, pose) -> float:
    """Height above which nothing can be hidden by `occluder` (inf when the camera is not above it)."""
    top = max(v[2] for v in occluder.verts)
    return top if pose.location[2] > top else math.inf


def _rays(pose, ii, jj):
    """Origins (ox, oy, oz: scalars or arrays) and directions (dx, dy, dz arrays) of pixel-centre rays."""
    cx, cy = pose.principal_point
    fx, r = pose.fx, pose.rotation
    x = ((ii + 0.5) - cx) / fx
    y = -((jj + 0.5) - cy) / fx
    ox, oy, oz = pose.location
    if pose.orthographic:
        ox = ox + r[0][0] * x + r[0][1] * y
        oy = oy + r[1][0] * x + r[1][1] * y
        oz = oz + r[2][0] * x + r[2][1] * y
        ones = np.ones_like(x)
        return (ox, oy, oz), (-r[0][2] * ones, -r[1][2] * ones, -r[2][2] * ones)
    dx = r[0][0] * x + r[0][1] * y + r[0][2] * -1.0
    dy = r[1][0] * x + r[1][1] * y + r[1][2] * -1.0
    dz = r[2][0] * x + r[2][1] * y + r[2][2] * -1.0
    return (ox, oy, oz), (dx, dy, dz)


def _hit_z(pose, ii, jj, depth):
    (_ox, _oy, oz), (_dx, _dy, dz) = _rays(pose, ii, jj)
    return oz + depth * dz


def _candidate_pixels(pose, bounds):
    """Pixels inside each solid's projected bound: arrays (i, j, solid number), built without a Python loop."""
    ranges = np.array([_pixel_range(pose, b) for b in bounds], np.intp).reshape(-1, 4)
    widths = np.maximum(ranges[:, 1] - ranges[:, 0], 0)
    heights = np.maximum(ranges[:, 3] - ranges[:, 2], 0)
    counts = widths * heights
    sid = np.repeat(np.arange(len(bounds)), counts)
    starts = np.cumsum(counts) - counts
    local = np.arange(int(counts.sum())) - starts[sid]
    width = widths[sid]
    return ranges[sid, 0] + local % width, ranges[sid, 2] + local // width, sid


def _entry_depth(pose, planes, ii, jj, sid):
    """Ray parameter where each pixel-centre ray enters solid `sid` (inf where it misses)."""
    (ox, oy, oz), (dx, dy, dz) = _rays(pose, ii, jj)
    nx, ny, nz = (np.ascontiguousarray(planes[:, :, k]) for k in range(3))
    if pose.orthographic:  # every ray has its own origin
        num = planes[:, :, 3][sid] - (nx[sid] * ox[:, None] + ny[sid] * oy[:, None] + nz[sid] * oz[:, None])
    else:
        num = (planes[:, :, 3] - (nx * ox + ny * oy + nz * oz))[sid]
    denom = nx[sid] * dx[:, None]
    denom += ny[sid] * dy[:, None]
    denom += nz[sid] * dz[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = num / denom
    enter = np.max(t, axis=1, where=denom < 0, initial=-np.inf)
    leave = np.min(t, axis=1, where=denom > 0, initial=np.inf)
    outside = np.any(num < 0, axis=1, where=denom == 0)
    hit = (enter <= leave) & (leave > 0) & ~outside
    return np.where(hit, np.maximum(enter, 0.0), np.inf)


# --- boxes ----------------------------------------------------------------------------------------


def _visible_part(spec, solid: Solid) -> list:
    """Corners of the part of a pin that can show above the housing's floor (all of it without a housing)."""
    box, floor_z = housing_box(spec), pin_floor(spec)
    if box is None:
        return solid.verts
    inside = all(box.xmin <= v[0] <= box.xmax and box.ymin <= v[1] <= box.ymax for v in solid.verts)
    if not inside:  # part of the pin stands beside the housing: keep it whole (a safe superset)
        return solid.verts
    kept = [v for v in solid.verts if v[2] >= floor_z]
    for a, b in solid.edges:
        va, vb = solid.verts[a], solid.verts[b]
        if (va[2] - floor_z) * (vb[2] - floor_z) < 0:
            s = (floor_z - va[2]) / (vb[2] - va[2])
            kept.append((va[0] + s * (vb[0] - va[0]), va[1] + s * (vb[1] - va[1]), floor_z))
    return kept


def pixel_box(pose, verts) -> list:
    """[x0, y0, x1, y1) covering the projection of `verts`, clipped to the image."""
    if not verts:
        return list(EMPTY_BOX)
    return _box_of(pose, _bounds(pose, [verts])[0])


def _box_of(pose, bound) -> list:
    umin, vmin, umax, vmax = bound
    clamp_x = lambda x: min(max(x, 0), pose.width)  # noqa: E731
    clamp_y = lambda y: min(max(y, 0), pose.height)  # noqa: E731
    return [clamp_x(math.floor(umin)), clamp_y(math.floor(vmin)), clamp_x(math.ceil(umax)), clamp_y(math.ceil(vmax))]


def is_empty(box) -> bool:
    return box[2] <= box[0] or box[3] <= box[1]


def union_box(a: list, b: list) -> list:
    if is_empty(a):
        return list(b)
    if is_empty(b):
        return list(a)
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]


def boxes_of_mask(mask, count: int) -> list:
    """Pixel box [x0, y0, x1, y1) of each value 1..count in `mask` ([0, 0, 0, 0] where a value is absent)."""
    boxes = [list(EMPTY_BOX) for _ in range(count)]
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return boxes
    vals = mask[ys, xs].astype(np.intp) - 1
    big = np.iinfo(np.intp).max
    x0, y0 = np.full(count, big), np.full(count, big)
    x1, y1 = np.full(count, -1), np.full(count, -1)
    np.minimum.at(x0, vals, xs)
    np.minimum.at(y0, vals, ys)
    np.maximum.at(x1, vals, xs)
    np.maximum.at(y1, vals, ys)
    for i in np.unique(vals).tolist():
        boxes[i] = [int(x0[i]), int(y0[i]), int(x1[i]) + 1, int(y1[i]) + 1]
    return boxes


def _nominal_mask_box(spec, pose, index: int) -> list:
    """Where pin `index` shows when nothing is wrong with it (itself and the housing; its neighbours do not
    move, so they cannot cover it more than in the defect-free scene)."""
    pins, _visible, housing = _nominal(spec)
    mask = rasterise(pose, list(pins[index]) + list(housing))
    return boxes_of_mask(mask, spec.grid.pin_count)[index]


def pin_boxes(spec, pose, plan, mask=None) -> list:
    """Every pin's box in pin-index order, as rendered in `plan`; a missing pin keeps its nominal box.
    With an occluding housing the boxes come from the mask (rasterised here when not given)."""
    if not occludes_pins(spec):
        _pins, visible, _housing = _frame(spec, plan)
        return [_box_of(pose, bound) for bound in _bounds(pose, visible)]
    if mask is None:
        mask = rasterise(pose, scene_solids(spec, plan))
    boxes = boxes_of_mask(mask, spec.grid.pin_count)
    for defect in [] if plan is None else plan.defective_pins():
        if defect.mode == "missing":
            index = pin_index(spec, defect.col, defect.row)
            boxes[index] = _nominal_mask_box(spec, pose, index)
    return boxes


def hidden_pins(boxes) -> list:
    """Indices of pins with an empty box: nothing of them reaches a pixel centre."""
    return [i for i, box in enumerate(boxes) if is_empty(box)]


def defect_boxes(spec, pose, plan, boxes=None) -> list:
    """Per defective pin (plan order): the union of its box as rendered and its box where it belongs."""
    defects = [] if plan is None else plan.defective_pins()
    if not defects:
        return []
    boxes = boxes if boxes is not None else pin_boxes(spec, pose, plan)
    out = []
    for defect in defects:
        index = pin_index(spec, defect.col, defect.row)
        if occludes_pins(spec):
            nominal = _nominal_mask_box(spec, pose, index)
        else:
            nominal = pixel_box(pose, _nominal(spec)[1][index])
        out.append(union_box(boxes[index], nominal))
    return out


def defect_box(spec, pose, plan, boxes=None):
    """Union of the defective pins' rendered and nominal boxes; None for an OK plan."""
    per_pin = defect_boxes(spec, pose, plan, boxes)
    if not per_pin:
        return None
    out = list(EMPTY_BOX)
    for box in per_pin:
        out = union_box(out, box)
    return out
