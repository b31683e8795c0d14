"""Blender tier: bent, twisted and squashed pins, and several defective pins per image, as Blender renders them.

Blender's own object-index pass (tests/addon/index_pass.py: the pixel-centre rays, one sample) must agree
with PinScope's exact mask on >= 99.5 % of pixels for each new mode; a sample with three defective pins
changes exactly those three objects, records all three, and shows all three in its mask and boxes.
"""

import bpy
import numpy as np
import pytest
from index_pass import object_index_pass

from blender_addon.contract import schema
from blender_addon.core import camera, mask, sampling
from blender_addon.dataset.runner import pin_records
from blender_addon.scene import pixels, region
from blender_addon.scene.apply import DEFORMED, apply_plan, reset_defects
from blender_addon.scene.build import build_scene, clear_scene
from blender_addon.scene.render import geometry_outputs, render_image

NEW_MODES = {"bend": (25.0, 35.0), "twist": (30.0, 40.0), "tip": (0.2, 0.3)}


@pytest.fixture(scope="module", autouse=True)
def _leave_no_pinscope_scene():
    yield
    clear_scene()


def physics_spec(count=(1, 1), **extra):
    classes = [
        {"name": mode, "mode": mode, "low": lo, "high": hi, "count_low": count[0], "count_high": count[1]}
        for mode, (lo, hi) in NEW_MODES.items()
    ]
    data = {
        "name": "physics",
        "seed": 11,
        "grid": {"pattern": "mixed"},
        "defects": {"classes": classes},
        "camera": {"rig": "centre", "lens": 60},
        "render": {"engine": "CYCLES", "samples": 1, "width": 240, "height": 80},
        "dataset": {"train": 12, "validation": 0, "test": 0, "reference": 0},
    }
    data.update(extra)
    return schema.GenerationSpec.from_dict(data)


def agreement(pin_scene, spec, plan) -> float:
    apply_plan(pin_scene, plan)
    theirs = object_index_pass(pin_scene.scene)
    pose = camera.camera_pose(spec, plan.view, plan.jitter)
    ours = mask.rasterise(pose, mask.scene_solids(spec, plan))
    assert (ours > 0).sum() > 0.05 * ours.size  # the pins are in the picture
    return float((ours == theirs).mean())


@pytest.mark.parametrize("mode", sorted(NEW_MODES))
def test_new_modes_mask_agrees_with_blenders_index_pass(mode):
    spec = physics_spec()
    pin_scene = build_scene(spec)
    plans = [sampling.plan_sample(spec, "train", i) for i in range(12)]
    plan = next(p for p in plans if p.mode == mode and spec.grid.shape_at(*p.pin) == "square")
    defect_pixels = (
        mask.rasterise(camera.camera_pose(spec, plan.view, plan.jitter), mask.scene_solids(spec, plan))
        == plan.pin_index + 1
    )
    nominal = mask.rasterise(camera.camera_pose(spec, plan.view, plan.jitter), mask.scene_solids(spec, None))
    assert (defect_pixels != (nominal == plan.pin_index + 1)).sum() > 20  # the defect changes what is seen
    assert agreement(pin_scene, spec, plan) >= 0.995
    reset_defects(pin_scene)
    assert not [m for m in bpy.data.meshes if m.name.startswith(DEFORMED)]  # per-sample meshes are removed


def test_three_defective_pins_are_rendered_recorded_and_masked():
    spec = physics_spec(count=(3, 3))
    pin_scene = build_scene(spec)
    for plan in (sampling.plan_sample(spec, "train", i) for i in range(3)):
        assert len(plan.pins) == 3 and len({d.pin for d in plan.pins}) == 3
        assert agreement(pin_scene, spec, plan) >= 0.995
        indices = [d.row * spec.grid.cols + d.col for d in plan.pins]
        changed = [
            i
            for i, obj in enumerate(pin_scene.pins)
            if obj.data != pin_scene.pin_meshes[i] or abs(obj.rotation_euler.z) > 0
        ]
        assert sorted(changed) == sorted(indices)
        geometry = geometry_outputs(spec, plan)
        records = pin_records(spec, plan, geometry["defect_boxes"])
        assert [r.pin for r in records] == [list(d.pin) for d in plan.pins]
        assert [r.pin_index for r in records] == indices and records[0].pin == list(plan.pin)
        pose = camera.camera_pose(spec, plan.view, plan.jitter)
        pixels = mask.rasterise(pose, mask.scene_solids(spec, plan))
        for record in records:
            x0, y0, x1, y1 = record.box
            assert (pixels[y0:y1, x0:x1] == record.pin_index + 1).any()
            assert geometry["pin_boxes"][record.pin_index] != [0, 0, 0, 0]
            d0, e0, d1, e1 = geometry["defect_box"]  # the sample's defect box holds every pin's
            assert d0 <= x0 and e0 <= y0 and x1 <= d1 and y1 <= e1
        row = schema.SampleRow(
            file_name="images/000000.png", label=plan.label, pin=list(plan.pin), mode=plan.mode, defects=records
        )
        again = schema.SampleRow.from_dict(row.to_dict())
        assert [d.pin for d in again.defects] == [list(d.pin) for d in plan.pins]


def test_a_region_over_several_pins_matches_the_full_render(tmp_path):
    """The region of a sample with several defective pins covers all of them (fixed pin near a neighbour so
    the union stays small enough to be region-rendered)."""
    spec = physics_spec(
        count=(2, 2),
        defects={"classes": [{"name": "bent", "mode": "bend", "low": 30, "high": 30, "count_low": 2, "count_high": 2}]},
        grid={"cols": 2, "rows": 6},
        render={"engine": "CYCLES", "samples": 4, "width": 128, "height": 48},
    )
    pin_scene = build_scene(spec)
    plan = sampling.plan_sample(spec, "train", 0)
    paths = {kind: tmp_path / f"{kind}.png" for kind in ("twin", "full", "region")}
    apply_plan(pin_scene, sampling.ok_plan_like(plan))
    render_image(pin_scene, paths["twin"], plan.render_seed)
    apply_plan(pin_scene, plan)
    render_image(pin_scene, paths["full"], plan.render_seed)
    box = region.region_for(spec, plan, geometry_outputs(spec, plan)["defect_box"])
    assert box is not None, "the two pins' region should be small enough to region-render"
    region.render_region(pin_scene, paths["region"], plan.render_seed, box, paths["twin"])
    full, composite, twin = (np.round(pixels.load_pixels(paths[k])[..., :3] * 255) for k in ("full", "region", "twin"))
    assert region.psnr(full, composite) >= region.PSNR_TARGET_DB > region.psnr(full, twin)
