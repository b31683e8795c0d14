"""A camera that fits the part, for every connector preset and 20 random valid grids (real bpy).

For each spec: Blender's camera clip planes hold every corner of the part and of where a defective pin can
go, under every jitter extreme; every pin -- at rest, and the defective pin of each drawn sample -- projects
inside the image under every jitter extreme; Blender's own object-index pass (housing tagged) shows the
part spanning >= 0.8 x `camera.fill` of the limiting image side; and PinScope's mask agrees with that pass.
"""

from __future__ import annotations

import numpy as np
import pytest
from index_pass import object_index_pass
from part_specs import PRESETS, RANDOM_GRIDS, preset, random_grid

from blender_addon.core import mask
from blender_addon.core.camera import camera_pose, extreme_poses
from blender_addon.core.housing import housing_parts
from blender_addon.core.optics import defect_room
from blender_addon.core.sampling import ok_plan_like, plan_sample
from blender_addon.scene.apply import apply_plan
from blender_addon.scene.build import build_scene

HOUSING_TAG = 32000  # pass_index given to the housing so the index pass shows it apart from the background
CASES = [(p.stem, lambda p=p: preset(p)) for p in PRESETS] + [
    (f"random-{i}", lambda i=i: random_grid(i)) for i in range(RANDOM_GRIDS)
]


def _inside(bounds, pose) -> bool:
    return all(u0 >= 0 and v0 >= 0 and u1 <= pose.width and v1 <= pose.height for u0, v0, u1, v1 in bounds)


def _check_clip(spec, pin_scene):
    corners = defect_room(spec).corners() + [v for part in housing_parts(spec) for v in part.verts]
    for pose in extreme_poses(spec):
        data = pin_scene.cameras[pose.name].data
        depths = [-pose.to_camera(c)[2] for c in corners]
        assert data.clip_start < min(depths) and max(depths) < data.clip_end, pose.name


def _check_pins_inside(spec):
    pins = mask.scene_solids(spec, None)[: spec.grid.pin_count]
    for pose in extreme_poses(spec):
        assert _inside(mask._bounds(pose, [s.verts for s in pins]), pose), f"a pin leaves the {pose.name} image"
    for index in range(spec.dataset.train):
        plan = plan_sample(spec, "train", index)
        if plan.pin is None or plan.mode == "missing":
            continue
        pose = camera_pose(spec, plan.view, plan.jitter)
        solid = mask.pin_solid(spec, *plan.pin, plan.shape, mask.placement_for(spec, plan, *plan.pin))
        assert _inside(mask._bounds(pose, [solid.verts]), pose), f"defective pin of sample {index} leaves the image"


def _index_pass_with_housing(pin_scene):
    if pin_scene.housing is not None:
        pin_scene.housing.pass_index = HOUSING_TAG
    try:
        return object_index_pass(pin_scene.scene)
    finally:
        if pin_scene.housing is not None:
            pin_scene.housing.pass_index = 0


@pytest.mark.parametrize("make_spec", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_the_camera_fits_the_part(make_spec):
    spec = make_spec()
    pin_scene = build_scene(spec)
    _check_clip(spec, pin_scene)
    if not spec.camera.fit:  # the seed's framing is its own (it crops the housing): nothing to fit
        return
    _check_pins_inside(spec)
    plan = plan_sample(spec, "train", 0)
    for shown in (ok_plan_like(plan), plan):
        apply_plan(pin_scene, shown)
        index = _index_pass_with_housing(pin_scene)
        ys, xs = np.nonzero(index)
        w, h = spec.render.width, spec.render.height
        span = max((xs.max() - xs.min() + 1) / w, (ys.max() - ys.min() + 1) / h)
        assert span >= 0.8 * spec.camera.fill, f"part spans {span:.3f} of the image, fill {spec.camera.fill:.3f}"
        pose = camera_pose(spec, shown.view, shown.jitter)
        ours = mask.rasterise(pose, mask.scene_solids(spec, shown))
        theirs = np.where(index == HOUSING_TAG, 0, index)
        assert (ours == theirs).mean() >= 0.995
