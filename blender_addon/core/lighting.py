"""Inspection lighting presets, placed and powered for the part (pure: where each light is and how bright).

Every preset is laid out around the point the cameras look at, in units of the part's long side L and the
camera distance D, so it lights a 1 x 10 header like it lights a 2 x 40 one:
- seed: the QEU blog's two area bars 4 mm to either side at 6 mm height (docs/method.md §1); without
  fitting exactly as before (bars pushed out and lengthened with the grid), fitted scaled with the part.
- ring: 12 small disc lights on a circle around the lens (22 deg off axis): even light, bright pin tips.
- coaxial: one square diffuse panel just under the camera on its axis (what a beam splitter gives):
  flat tips shine, tilted tips turn dark.
- dome: 16 large panels on a hemisphere (30 and 60 deg elevation): soft, shadow-free light.
- low_angle: 12 small lights at 10 deg elevation all round: edges and tilted faces catch the light, flat
  tops stay dark.
- backlight: a bright panel under the part that the camera sees: pins as silhouettes against it.
Power: `lights.energy` (+ the shot's jitter) is the level; each light gets level x its share x the preset's
factor x (its distance to the part / the seed bars' distance)^2 -- the factors are calibrated so a level
of 350 exposes the pins about like the seed's bars do (docs/rendering.md), and the square keeps the
irradiance as the rig grows with the part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .housing import pin_floor
from .optics import aim_euler, optics_for, part_box
from .randomize import light_offsets, presets_in_use

# The seed's bars: 4 mm aside, 0.2 mm along, 6 mm above the pins' centre = 5 mm above their tips.
REFERENCE_DISTANCE = math.sqrt(4.0**2 + 0.2**2 + 5.0**2)
# Measured so that level 350 gives pins about as bright as the seed preset's (docs/rendering.md).
PRESET_POWER = {"seed": 1.0, "ring": 1.0, "coaxial": 0.03, "dome": 1.6, "low_angle": 2.5, "backlight": 0.8 / 350.0}


@dataclass(frozen=True)
class LightPose:
    name: str
    location: tuple
    rotation_deg: tuple  # Blender XYZ Euler in degrees; the light shines down its local -Z
    size: float
    size_y: float
    shape: str = "RECTANGLE"  # RECTANGLE, SQUARE, DISK (area lights) or PANEL (an emissive plane the camera sees)
    share: float = 1.0  # of the preset's power
    level_key: str = "light_a"  # the jitter value that sets its level
    preset: str = "seed"  # the lighting preset it belongs to (a randomised spec builds several)


def _aimed(name, location, target, size, size_y, shape, share, key="light_level") -> LightPose:
    euler = aim_euler(location, target, 0.0)
    return LightPose(name, location, tuple(math.degrees(a) for a in euler), size, size_y, shape, share, key)


def _seed_legacy(spec) -> list:
    """The seed's two AREA bars, pushed out and lengthened with wider or longer grids (as always)."""
    g, lights = spec.grid, spec.lights
    scale_x = max(1.0, g.cols * g.pitch / 3.0)
    scale_y = max(1.0, g.rows * g.pitch / 9.0)
    size_y = lights.size_y * scale_y
    return [
        LightPose("PinScope Light A", (4.0 * scale_x, -0.2, 6.0), (0.8, 32.0, 0.0), lights.size_x, size_y),
        LightPose(
            "PinScope Light B",
            (-4.0 * scale_x, 0.2, 6.0),
            (-0.8, -32.0, 0.0),
            lights.size_x,
            size_y,
            level_key="light_b",
        ),
    ]


def _seed_fitted(spec, optics) -> list:
    """The seed's bars scaled with the part (5 mm above the tips of a 10 mm part), turned with the image so
    the bars lie along its width."""
    s, lights, aim = optics.scale, spec.lights, optics.aim
    turn = optics.roll - 90.0
    c, si = math.cos(math.radians(turn)), math.sin(math.radians(turn))
    out = []
    for name, (x, y, z), rot, key in (
        ("PinScope Light A", (4.0, -0.2, 5.0), (0.8, 32.0, 0.0), "light_a"),
        ("PinScope Light B", (-4.0, 0.2, 5.0), (-0.8, -32.0, 0.0), "light_b"),
    ):
        loc = (aim[0] + s * (c * x - si * y), aim[1] + s * (si * x + c * y), aim[2] + s * z)
        rotation = (rot[0], rot[1], rot[2] + turn)
        out.append(LightPose(name, loc, rotation, lights.size_x * s, lights.size_y * s, level_key=key))
    return out


def _ring(name, aim, radius, height, count, size, shape, share, phase=0.0) -> list:
    """`count` lights on a circle of `radius` at `height` above `aim`, each aimed at it."""
    out = []
    for i in range(count):
        angle = phase + 2.0 * math.pi * i / count
        loc = (aim[0] + radius * math.cos(angle), aim[1] + radius * math.sin(angle), aim[2] + height)
        out.append(_aimed(f"{name} {i:02d}", loc, aim, size, size, shape, share))
    return out


def _on_hemisphere(name, aim, radius, elevation_deg, count, size, shape, share, phase=0.0) -> list:
    e = math.radians(elevation_deg)
    return _ring(name, aim, radius * math.cos(e), radius * math.sin(e), count, size, shape, share, phase)


def light_rig(spec, preset: str | None = None) -> list:
    """The lights of `preset` (default: `spec.lights.preset`) for this part and camera."""
    preset = preset or spec.lights.preset
    return [replace(pose, preset=preset) for pose in _preset_lights(spec, preset)]


def _preset_lights(spec, preset: str) -> list:
    optics = optics_for(spec)
    if preset == "seed":
        return _seed_fitted(spec, optics) if optics.fitted else _seed_legacy(spec)
    box = part_box(spec)
    long_side, aim, d = box.long_side, optics.aim, optics.distance
    if preset == "ring":
        r = d * math.tan(math.radians(22.0))
        return _ring("PinScope Ring", aim, r, 0.9 * d, 12, 0.15 * r, "DISK", 1.0 / 12)
    if preset == "coaxial":
        loc = (aim[0], aim[1], aim[2] + 0.9 * d)
        return [_aimed("PinScope Coaxial", loc, aim, 0.3 * d, 0.3 * d, "SQUARE", 1.0)]
    if preset == "dome":
        radius = max(0.75 * long_side, 0.5 * d)
        low = _on_hemisphere("PinScope Dome 30", aim, radius, 30.0, 8, 0.7 * radius, "SQUARE", 1.0 / 16)
        high = _on_hemisphere("PinScope Dome 60", aim, radius, 60.0, 8, 0.7 * radius, "SQUARE", 1.0 / 16, math.pi / 8)
        return low + high
    if preset == "low_angle":
        radius = 0.9 * long_side
        return _on_hemisphere("PinScope Low", aim, radius, 10.0, 12, 0.15 * radius, "DISK", 1.0 / 12)
    # backlight: an emissive panel under the part, wide enough to fill the view behind it
    side = 4.0 * long_side
    loc = (aim[0], aim[1], box.zmin - 0.05 * long_side)
    return [LightPose("PinScope Backlight", loc, (0.0, 0.0, 0.0), side, side, "PANEL", 1.0, "light_level")]


def light_power(spec, pose: LightPose, jitter: dict) -> float:
    """Watts for an area light (emission strength for the backlight panel) in this shot.

    A light's power grows with the square of its distance to the part, so every preset lights a part the
    same at any scale: the seed's bars stand REFERENCE_DISTANCE from the pins they light. A randomised
    light_scale multiplies the shot's level."""
    level = jitter.get(pose.level_key, spec.lights.energy) * jitter.get("light_scale", 1.0)
    optics = optics_for(spec)
    if pose.preset == "seed" and not optics.fitted:
        return level  # the seed's bars: the level is each bar's power, as it always was
    if pose.shape == "PANEL":
        return level * PRESET_POWER[pose.preset]  # an emitter seen directly: its strength does not fall with distance
    distance = math.dist(pose.location, optics.aim)
    return level * pose.share * PRESET_POWER[pose.preset] * (distance / REFERENCE_DISTANCE) ** 2


def _reach(spec, location, at) -> float:
    """How far (mm, in the board plane) a pin's shadow can fall from a light at `location`: a pin standing hv
    above the housing, lit by a light H above the housing and d away, casts a shadow hv * d / (H - hv) long.
    `at`: the pin's (x, y), else the farthest point of the part."""
    optics, box = optics_for(spec), part_box(spec)
    floor = pin_floor(spec)
    floor = box.zmin if floor is None else floor
    hv = spec.pins.height / 2.0 - floor
    height = location[2] - floor
    if at is None:
        d = math.hypot(location[0] - optics.aim[0], location[1] - optics.aim[1]) + box.long_side / 2
    else:
        d = math.hypot(location[0] - at[0], location[1] - at[1])
    return math.inf if height <= hv else hv * d / (height - hv)


def shadow_reach(spec, presets=None, at=None) -> float:
    """How far (mm, in the board plane) a pin's shadow can fall from the pin (`_reach`): long for grazing
    light (low_angle), short from above (ring, coaxial); the backlight casts none the camera sees.
    A defect moves its pin's shadow, so a region render must reach this far (scene.region). `presets`: the
    ones to count (default every preset a shot can draw); `at`: the pin's (x, y), else the farthest point of
    the part; lights moved by a randomised light_offset can drop by that share of their distance."""
    aim = optics_for(spec).aim
    drop = (spec.randomize.light_offset or [0.0, 0.0])[1]
    reach = 0.0
    for preset in presets or presets_in_use(spec):
        for pose in light_rig(spec, preset):
            if pose.shape == "PANEL":
                continue
            dropped = (*pose.location[:2], pose.location[2] - drop * math.dist(pose.location, aim))
            reach = max(reach, _reach(spec, dropped, at))
    return reach


def shot_locations(spec, poses: list, jitter: dict) -> list:
    """Where `poses` (one preset's lights, in rig order) stand in this shot: each moved by its drawn
    light_offset (core.randomize.light_offsets, a share of its distance to the aim point)."""
    aim = optics_for(spec).aim
    offsets = light_offsets(spec, jitter, len(poses))
    out = []
    for pose, offset in zip(poses, offsets, strict=True):
        reach = math.dist(pose.location, aim)
        out.append(tuple(c + o * reach for c, o in zip(pose.location, offset, strict=True)))
    return out


def shadow_growth(spec, preset: str, jitter: dict, at=None) -> float:
    """How many times longer (>= 1) a pin's shadow can fall in this shot than from the lights' own places:
    the largest ratio of `_reach` from a light where the shot moved it to `_reach` from where it belongs.
    A margin measured exact for the unmoved lights covers the moved ones when grown by this factor."""
    poses = light_rig(spec, preset)
    growth = 1.0
    for pose, moved in zip(poses, shot_locations(spec, poses, jitter), strict=True):
        if pose.shape == "PANEL":  # casts no shadow the camera sees
            continue
        nominal, shifted = _reach(spec, pose.location, at), _reach(spec, moved, at)
        if shifted > nominal:
            growth = max(growth, math.inf if nominal <= 0 else shifted / nominal)
    return growth
