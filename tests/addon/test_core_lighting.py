"""Where a shot's lights stand and how far the region margin grows for them (pure: no bpy needed).

A randomised light_offset moves each light by up to that share of its distance to the part; the region
margin of the seed's bars grows by as much as the move lengthens a pin's shadow, never below the margin
measured exact for the unmoved bars and never past the spec-wide bound it replaced.
"""

from __future__ import annotations

import json
import math

from part_specs import REPO
from pinscope_schema import GenerationSpec

from blender_addon.core.layout import pin_centre
from blender_addon.core.lighting import light_rig, shadow_growth, shadow_reach, shot_locations
from blender_addon.core.optics import optics_for
from blender_addon.core.randomize import light_preset
from blender_addon.core.sampling import plan_sample
from blender_addon.scene import region


def _default(**randomize) -> GenerationSpec:
    data = json.loads((REPO / "specs" / "default.json").read_text())
    data["randomize"].update(randomize)
    return GenerationSpec.from_dict(data)


def test_unmoved_lights_stand_where_the_rig_puts_them():
    spec = _default(light_offset=None)
    poses = light_rig(spec, "seed")
    plan = plan_sample(spec, "train", 0)
    assert shot_locations(spec, poses, plan.jitter) == [pose.location for pose in poses]
    assert shadow_growth(spec, "seed", plan.jitter) == 1.0


def test_moved_lights_stay_within_their_share_of_the_distance():
    spec = _default()
    aim = optics_for(spec).aim
    poses = light_rig(spec, "seed")
    for index in range(0, 40, 4):
        jitter = plan_sample(spec, "train", index).jitter
        for pose, moved in zip(poses, shot_locations(spec, poses, jitter), strict=True):
            shift = math.dist(moved, pose.location)
            assert shift <= jitter["light_offset"] * math.dist(pose.location, aim) + 1e-9


def test_margin_follows_the_shot_between_the_measured_margin_and_the_old_bound():
    spec = _default()
    grew = 0
    for index in range(60):
        plan = plan_sample(spec, "train", index)
        if plan.pin is None:
            continue
        preset = light_preset(spec, plan.conditions)
        margin = region.margin_pitches(spec, preset, plan.pin, plan.jitter)
        bound = shadow_reach(spec, [preset], pin_centre(spec, *plan.pin)[:2]) / spec.grid.pitch
        assert spec.render.region_margin <= margin <= max(spec.render.region_margin, bound)
        grew += margin > spec.render.region_margin
    assert grew > 0  # the moved bars do widen some regions


def test_larger_moves_grow_the_margin_more_and_never_shrink_it():
    small, large = _default(light_offset=[0.05, 0.05]), _default(light_offset=[0.5, 0.5])
    indices = range(0, 80, 4)
    small_growth = [shadow_growth(small, "seed", plan_sample(small, "train", i).jitter) for i in indices]
    large_growth = [shadow_growth(large, "seed", plan_sample(large, "train", i).jitter) for i in indices]
    assert all(g >= 1.0 for g in small_growth + large_growth)
    assert max(small_growth) < 1.25 < max(large_growth)
