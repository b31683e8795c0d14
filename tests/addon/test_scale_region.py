"""Region rendering: a defective sample rendered only around its defect, over its full twin.

Real bpy, tiny Cycles renders (64 x 32, 4 spp). For every defect mode the composite must match a full
render of the same sample to >= 40 dB over the whole image, and be *exactly* the full render inside
the region (Cycles samples each pixel from the seed and the pixel alone, so a border render that is
placed right reproduces those pixels bit for bit: this catches any off-by-one in the border).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pinscope_schema import GenerationSpec

from blender_addon.core.camera import camera_pose
from blender_addon.core.defects import every_mode_classes
from blender_addon.core.sampling import ok_plan_like, plan_sample
from blender_addon.scene import pixels, region
from blender_addon.scene.apply import apply_plan
from blender_addon.scene.build import build_scene
from blender_addon.scene.render import geometry_outputs, render_image

CLASSES = every_mode_classes(with_ok=False)
MODES = tuple(c["mode"] for c in CLASSES)


def every_mode_spec(engine="CYCLES", width=64, height=32, region_on=True) -> GenerationSpec:
    return GenerationSpec.from_dict(
        {
            "defects": {"classes": CLASSES},
            "render": {"engine": engine, "width": width, "height": height, "samples": 4, "region": region_on},
            "dataset": {"train": len(MODES), "validation": 0, "test": 0, "reference": 0},
        }
    )


@pytest.fixture(scope="module")
def composites(tmp_path_factory):
    """Per mode: (plan, region box, full render pixels, composite pixels, twin pixels)."""
    spec = every_mode_spec()
    scene = build_scene(spec)
    folder = tmp_path_factory.mktemp("region")
    out = {}
    for index in range(len(MODES)):
        plan = plan_sample(spec, "train", index)
        twin_path, full_path, region_path = (folder / f"{index}-{kind}.png" for kind in ("twin", "full", "region"))
        apply_plan(scene, ok_plan_like(plan))
        render_image(scene, twin_path, plan.render_seed)
        apply_plan(scene, plan)
        render_image(scene, full_path, plan.render_seed)
        pose = camera_pose(spec, plan.view, plan.jitter)
        box = region.region_box(spec, pose, plan, geometry_outputs(spec, plan)["defect_box"])
        assert region.wants_region(spec, plan, box), f"{plan.mode}: region {box} not used"
        region.render_region(scene, region_path, plan.render_seed, box, twin_path)
        to_bytes = [np.round(pixels.load_pixels(p)[..., :3] * 255) for p in (full_path, region_path, twin_path)]
        out[plan.mode] = (plan, box, *to_bytes)
    return spec, out


def test_every_mode_is_covered(composites):
    _spec, out = composites
    assert sorted(out) == sorted(MODES)


@pytest.mark.parametrize("mode", MODES)
def test_region_composite_matches_full_render(composites, mode):
    spec, out = composites
    plan, box, full, composite, twin = out[mode]
    assert region.psnr(full, composite) >= region.PSNR_TARGET_DB
    # The twin alone is visibly different: the region carries the defect.
    assert region.psnr(full, twin) < region.psnr(full, composite)
    x0, y0, x1, y1 = box
    h = spec.render.height
    inside_full, inside_comp = full[h - y1 : h - y0, x0:x1], composite[h - y1 : h - y0, x0:x1]
    assert np.array_equal(inside_full, inside_comp), f"{mode}: border misplaced by at least a pixel"
    area = (x1 - x0) * (y1 - y0)
    assert area < spec.render.width * spec.render.height  # it really is a partial render


def test_region_box_grows_by_margin_and_stays_inside():
    spec = every_mode_spec(width=96, height=32)
    plan = plan_sample(spec, "train", 0)
    pose = camera_pose(spec, plan.view, plan.jitter)
    defect = geometry_outputs(spec, plan)["defect_box"]
    none = region.region_box(spec, pose, plan, defect, margin=0.0)
    one = region.region_box(spec, pose, plan, defect, margin=1.0)
    huge = region.region_box(spec, pose, plan, defect, margin=100.0)
    assert none == [max(0, defect[0]), max(0, defect[1]), min(96, defect[2]), min(32, defect[3])]
    grow = math.ceil(region.pitch_pixels(spec, pose, plan))
    assert one[0] == max(0, defect[0] - grow) and one[2] == min(96, defect[2] + grow)
    assert huge == [0, 0, 96, 32]
    assert not region.wants_region(spec, plan, huge)  # a full-image region is a full render
    ok_plan = ok_plan_like(plan)
    assert region.region_box(spec, pose, ok_plan, None) is None
    assert not region.wants_region(spec, ok_plan, None)


def test_border_fractions_truncate_to_the_intended_pixels():
    for width, height in ((64, 32), (288, 96), (97, 31)):
        for box in ([0, 0, width, height], [3, 5, 17, 9], [width - 1, height - 1, width, height]):
            min_x, max_x, min_y, max_y = region.border_fractions(box, width, height)
            assert (int(min_x * width), int(max_x * width)) == (box[0], box[2])
            assert (int(min_y * height), int(max_y * height)) == (height - box[3], height - box[1])


def test_psnr():
    a = np.zeros((4, 4, 3))
    assert region.psnr(a, a) == math.inf
    b = a.copy()
    b[0, 0, 0] = 255
    assert region.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / (255**2 / 48)))
    with pytest.raises(ValueError, match="shape"):
        region.psnr(a, np.zeros((2, 2, 3)))
