"""The camera's optics for a spec: sensor and lens, and -- with `camera.fit` -- a camera that fits the part.

Pure (no bpy). `optics_for(spec)` is computed once per spec and says where each view's camera sits before
jitter, its focal length or orthographic scale, clip planes, focus distance and the scale factor that
jitter ranges and lights follow. `core.camera.camera_pose` turns it into one shot's pose.

Fitting: the part is the box around housing, pins and the room their defects need (a tilted pin leans
out by height * sin(tilt)). For a trial distance (or focal length, or orthographic scale) every corner of
that box is projected through every view, also under the extreme camera jitter, and the fill is the
largest |u - cx| / (W/2) or |v - cy| / (H/2): the part stays inside the centred box of that share of the
image. Distance is solved by bisection (fill falls as the camera backs away); focal length and
orthographic scale scale the image linearly, so one trial gives them exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..contract import schema
from .deform import TIP_FLARE
from .housing import part_top
from .layout import housing_box, pin_base_z
from .projection import ORTHOGRAPHIC, CameraPose

VIEW_SIDE = {"left": -1.0, "centre": 0.0, "right": 1.0}
SEED_PART = 10.0  # long side (mm) of the seed's housing: 9 rows at 1 mm pitch + 2 x 0.5 mm margin
REACH_FILL = 0.98  # a defective pin may come this close to the image border, never past it


@dataclass(frozen=True)
class PartBox:
    """Axis-aligned box the camera must fit: the part plus the room its defects need."""

    xmin: float
    xmax: float
    ymin: float
    ymax: float
    zmin: float
    zmax: float

    def corners(self) -> list:
        return [
            (x, y, z) for x in (self.xmin, self.xmax) for y in (self.ymin, self.ymax) for z in (self.zmin, self.zmax)
        ]

    @property
    def long_side(self) -> float:
        return max(self.xmax - self.xmin, self.ymax - self.ymin)


@dataclass(frozen=True)
class Optics:
    """Where each view's camera sits before jitter, and its lens. Distances in mm, angles in degrees."""

    projection: str  # perspective | orthographic
    lens: float  # focal length (perspective)
    sensor_width: float  # what the image's width spans on the sensor (square pixels)
    ortho_scale: float  # what the image's width spans in the scene (orthographic)
    aim: tuple  # the point the views look at: the centre of the pin tips (the origin for the seed placement)
    locations: dict  # view -> camera location before jitter
    roll: float  # 90 = the part's Y across the image (the seed), 0 = its X
    scale: float  # what jitter ranges and lights are multiplied by: 1 unless fitted
    fitted: bool
    legacy: bool  # the seed's placement formula, kept bit for bit for specs that do not fit
    distance: float  # camera to the aim point along the axis
    pixel_pitch: float  # mm per pixel on the sensor

    @property
    def focus_distance(self) -> float:
        """Camera to the pin tips along the axis: where depth of field focuses."""
        return self.distance


def pixel_pitch(spec) -> float:
    """Square pixels on the sensor: the image is the largest region of the sensor with the image's shape."""
    cam, r = spec.camera, spec.render
    return min(cam.sensor_width / r.width, cam.sensor_height / r.height)


def effective_sensor_width(spec) -> float:
    """What Blender's horizontal sensor fit needs. The seed (36 x 24 mm, a wide image) gives 36 exactly."""
    return pixel_pitch(spec) * spec.render.width


def pin_tip_z(spec) -> float:
    return spec.pins.height / 2.0


def part_box(spec) -> PartBox:
    """The part at rest: the housing (or the pin cells without one), from the pins' base up to the highest
    pin tip or wall. `camera.fill` is the share of the image this box spans."""
    g = spec.grid
    box = housing_box(spec)
    if box is not None:
        xmin, xmax, ymin, ymax = box.xmin, box.xmax, box.ymin, box.ymax
    else:
        xmin, xmax = -g.cols * g.pitch / 2.0, g.cols * g.pitch / 2.0
        ymin, ymax = -g.rows * g.pitch / 2.0, g.rows * g.pitch / 2.0
    return PartBox(xmin, xmax, ymin, ymax, pin_base_z(spec), max(pin_tip_z(spec), part_top(spec)))


def defect_room(spec) -> PartBox:
    """The part plus where a defective pin can get to: an edge pin leaning out by height * sin(tilt or bend)
    or shifted, a pin raised, turned (twist) or squashed wider (tip). The camera keeps this inside the
    image (REACH_FILL), backing off only if the part itself at `fill` would let a defect leave it."""
    g, pins, part = spec.grid, spec.pins, part_box(spec)
    reach, rise, grow = 0.0, 0.0, 1.0
    for cls in spec.defects.classes:
        big = max(abs(cls.low), abs(cls.high))
        if cls.mode in ("tilt_x", "tilt_y", "bend"):  # a bent tip moves less than one tilted as far
            reach = max(reach, pins.height * math.sin(math.radians(big)))
        elif cls.mode == "shift":
            reach = max(reach, big)
        elif cls.mode == "raise":
            rise = max(rise, big)
        elif cls.mode == "twist":  # a turned pin reaches out to its corners
            grow = max(grow, math.sqrt(2.0))
        elif cls.mode == "tip":
            grow = max(grow, math.sqrt(2.0) * TIP_FLARE)
    half = max(pins.footprint(shape) for shape in set(g.shapes())) / 2.0 * grow + reach
    field_x, field_y = (g.cols - 1) * g.pitch / 2.0 + half, (g.rows - 1) * g.pitch / 2.0 + half
    return PartBox(
        min(part.xmin, -field_x),
        max(part.xmax, field_x),
        min(part.ymin, -field_y),
        max(part.ymax, field_y),
        part.zmin,
        max(part.zmax, pin_tip_z(spec) + rise),
    )


def base_roll(spec) -> float:
    """90 deg puts the part's Y across the image (the seed), 0 deg its X; auto: the longer side across the
    longer image side."""
    orient = spec.camera.orient
    if orient == "auto":
        box = part_box(spec)
        y_long = (box.ymax - box.ymin) >= (box.xmax - box.xmin)
        wide = spec.render.width >= spec.render.height
        orient = "y_across" if y_long == wide else "x_across"
    return 90.0 if orient == "y_across" else 0.0


def aim_euler(location, target, roll_deg: float) -> tuple:
    """Blender XYZ Euler (radians) of a camera at `location` looking at `target`, rolled `roll_deg` about
    its axis. R = Rz(roll) Ry(b) Rx(a) must send the camera's -Z to the aim direction d: in the frame
    turned back by the roll, d = (-cos a sin b, sin a, -cos a cos b)."""
    dx, dy, dz = (target[0] - location[0], target[1] - location[1], target[2] - location[2])
    n = math.sqrt(dx * dx + dy * dy + dz * dz)
    roll = math.radians(roll_deg)
    c, s = math.cos(roll), math.sin(roll)
    px, py, pz = (c * dx + s * dy) / n, (-s * dx + c * dy) / n, dz / n
    return (math.asin(max(-1.0, min(1.0, py))), math.atan2(-px, -pz), roll)


def side_axis(roll_deg: float) -> tuple:
    """World direction of the image's width: where the side cameras of the rig are offset."""
    return (0.0, 1.0, 0.0) if abs(roll_deg - 90.0) < 1e-9 else (1.0, 0.0, 0.0)


class FitError(schema.ContractError):
    """The part cannot be fitted as asked: a one-line `<spec field>: <problem>` like every bad spec."""


def view_locations(spec, distance: float, aim: tuple, roll: float) -> dict:
    """Each view `distance` from `aim`; side views tilted `tilt` degrees along the image's width."""
    axis = side_axis(roll)
    out = {}
    for view in spec.camera.views:
        t = math.radians(VIEW_SIDE[view] * spec.camera.tilt)
        out[view] = tuple(aim[k] + distance * (math.sin(t) * axis[k] + math.cos(t) * (k == 2)) for k in range(3))
    return out


def _legacy_locations(spec) -> dict:
    """The seed's rig: `height` above the pins' centre plane, side cameras `offset` along Y."""
    cam = spec.camera
    return {view: (0.0, VIEW_SIDE[view] * cam.offset, cam.height) for view in cam.views}


def zoom_extremes(spec) -> list:
    """(distance multiplier, focal multiplier) pairs a shot can reach: the randomised camera distance and
    focal length ranges' corners (just (1, 1) when neither is drawn)."""
    r = spec.randomize
    distances = r.camera_distance or [1.0, 1.0]
    focals = r.focal_length or [1.0, 1.0]
    return sorted({(d, f) for d in distances for f in focals})


def jitter_extremes(spec, scale: float) -> list:
    """(dx, dy, roll, distance x, focal x): the corners of the jitter box and of the zoom ranges, and no jitter."""
    cam = spec.camera
    jx, jy, jr = cam.jitter_x * scale, cam.jitter_y * scale, cam.jitter_rot_z
    corners = [(sx * jx, sy * jy, sr * jr) for sx in (-1, 1) for sy in (-1, 1) for sr in (-1, 1)]
    return [(0.0, 0.0, 0.0, 1.0, 1.0)] + [(*c, d, f) for c in corners for d, f in zoom_extremes(spec)]


def zoomed(aim, location, distance_factor: float) -> tuple:
    """`location` moved along its line to `aim` so its distance is multiplied by `distance_factor`."""
    return tuple(aim[k] + (location[k] - aim[k]) * distance_factor for k in range(3))


def trial_poses(spec, locations: dict, aim, roll, lens, sensor, ortho, scale) -> list:
    """Every view under every jitter extreme, aimed at `aim` (the poses the part must fit in)."""
    r, proj = spec.render, spec.camera.projection
    poses = []
    for view, loc in locations.items():
        for dx, dy, droll, dist, focal in jitter_extremes(spec, scale):
            at = zoomed(aim, loc, dist)
            moved = (at[0] + dx, at[1] + dy, at[2])
            euler = aim_euler(moved, aim, roll + droll)
            poses.append(CameraPose(view, moved, euler, lens * focal, r.width, r.height, sensor, proj, ortho / focal))
    return poses


def fill_of(poses, corners) -> float:
    """Largest share of the half-width or half-height that a corner reaches, over all poses (inf: behind)."""
    worst = 0.0
    for pose in poses:
        if any(pose.to_camera(c)[2] >= 0 for c in corners):
            return math.inf
        cx, cy = pose.principal_point
        for u, v in pose.project(corners):
            worst = max(worst, abs(u - cx) / cx, abs(v - cy) / cy)
    return worst


def part_scale(spec) -> float:
    """Part size relative to the seed's (its housing's long side over 10 mm): what fitted jitter and lights follow."""
    box = housing_box(spec)
    if box is not None:
        long_side = max(box.xmax - box.xmin, box.ymax - box.ymin)
    else:
        g = spec.grid
        long_side = max(g.cols, g.rows) * g.pitch
    return long_side / SEED_PART


def _fill_at_distance(spec, d, box, aim, roll, lens, sensor, scale) -> float:
    poses = trial_poses(spec, view_locations(spec, d, aim, roll), aim, roll, lens, sensor, 0.0, scale)
    return fill_of(poses, box.corners())


def _solve_distance(spec, box, target, aim, roll, lens, sensor, scale) -> float:
    """Bisection on the camera distance: the fill falls as the camera backs away."""
    tilt = math.radians(spec.camera.tilt if len(spec.camera.views) > 1 else 0.0)
    lo = (box.zmax - aim[2]) / math.cos(tilt) * (1.0 + 1e-6) + 1e-6
    hi = max(2.0 * lo, 1.0)
    while _fill_at_distance(spec, hi, box, aim, roll, lens, sensor, scale) > target:
        hi *= 2.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if _fill_at_distance(spec, mid, box, aim, roll, lens, sensor, scale) > target:
            lo = mid
        else:
            hi = mid
    return hi


def _check_working_distance(spec, room: PartBox, aim) -> None:
    cam = spec.camera
    d = cam.working_distance
    if d * math.cos(math.radians(cam.tilt if len(cam.views) > 1 else 0.0)) <= room.zmax - aim[2]:
        raise FitError(
            "spec.camera.working_distance",
            f"puts the camera inside the part (its top is {room.zmax - aim[2]:.3g} mm above the pin tips), got {d}",
        )


def _fitted(spec) -> dict:
    """Solve the free quantity (distance, focal length or orthographic scale): the part at rest spans
    `camera.fill`, unless a defective pin would then leave the image (then the room for it spans REACH_FILL)."""
    cam = spec.camera
    roll, scale = base_roll(spec), part_scale(spec)
    aim, sensor = (0.0, 0.0, pin_tip_z(spec)), effective_sensor_width(spec)
    goals = ((part_box(spec), cam.fill), (defect_room(spec), REACH_FILL))
    values = dict(lens=cam.lens, ortho_scale=0.0, distance=cam.working_distance)
    if cam.projection != ORTHOGRAPHIC and cam.fit_by == "distance":
        values["distance"] = max(_solve_distance(spec, b, t, aim, roll, cam.lens, sensor, scale) for b, t in goals)
    else:
        _check_working_distance(spec, goals[1][0], aim)
        locations = view_locations(spec, cam.working_distance, aim, roll)
        if cam.projection == ORTHOGRAPHIC:  # the image scales as 1 / ortho_scale: one trial solves it
            poses = trial_poses(spec, locations, aim, roll, cam.lens, sensor, 1.0, scale)
            values["ortho_scale"] = max(fill_of(poses, b.corners()) / t for b, t in goals)
        else:  # ... and as the focal length
            poses = trial_poses(spec, locations, aim, roll, 1.0, sensor, 0.0, scale)
            lens = min(t / fill_of(poses, b.corners()) for b, t in goals)
            if not 1.0 <= lens <= 5000.0:
                raise FitError(
                    "spec.camera.working_distance",
                    f"fitting the focal length at {cam.working_distance} mm would need a {lens:.3g} mm lens "
                    "(allowed 1..5000): move the camera",
                )
            values["lens"] = lens
    values.update(aim=aim, roll=roll, scale=scale, locations=view_locations(spec, values["distance"], aim, roll))
    return values


def _placed(spec) -> dict:
    """The camera where the spec puts it (fit off): `height`, `lens`, `offset`; orthographic: `magnification`."""
    cam = spec.camera
    roll = base_roll(spec)
    if roll == 90.0:
        locations = _legacy_locations(spec)
    else:
        locations = {view: (VIEW_SIDE[view] * cam.offset, 0.0, cam.height) for view in cam.views}
    ortho_scale = effective_sensor_width(spec) / cam.magnification
    distance = cam.height - pin_tip_z(spec)
    return dict(
        lens=cam.lens,
        ortho_scale=ortho_scale,
        distance=distance,
        aim=(0.0, 0.0, 0.0),
        roll=roll,
        scale=1.0,
        locations=locations,
    )


_CACHE: dict = {}


def optics_for(spec) -> Optics:
    """The spec's optics (cached per spec); raises FitError when the part cannot be fitted as asked."""
    key = spec.fingerprint()
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    cam = spec.camera
    values = _fitted(spec) if cam.fit else _placed(spec)
    optics = Optics(
        projection=cam.projection,
        lens=values["lens"],
        sensor_width=effective_sensor_width(spec),
        ortho_scale=values["ortho_scale"],
        aim=values["aim"],
        locations=values["locations"],
        roll=values["roll"],
        scale=values["scale"],
        fitted=cam.fit,
        legacy=not cam.fit and values["roll"] == 90.0,
        distance=values["distance"],
        pixel_pitch=pixel_pitch(spec),
    )
    if len(_CACHE) >= 16:
        _CACHE.clear()
    _CACHE[key] = optics
    return optics
