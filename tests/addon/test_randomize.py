"""Domain randomisation: every factor varies from shot to shot, and a sample and its twin share it.

For each factor of `spec.randomize`, alone: two shots draw different values and different renders (real
bpy, Cycles 64 x 32), while a defective sample and its defect-free twin share the draw, so their render
differs only around the defect (>= 95 % of |sample - twin| inside the defect box grown by a pitch,
the same bar as without randomisation). A spec without randomisation draws exactly what it always drew.
"""

from __future__ import annotations

import numpy as np
import pytest
from pinscope_schema import GenerationSpec, RandomizeSpec

from blender_addon.core import randomize
from blender_addon.core.camera import camera_pose
from blender_addon.core.sampling import ok_plan_like, plan_reference, plan_sample
from blender_addon.dataset.runner import render_one
from blender_addon.scene import pixels, region
from blender_addon.scene.build import build_scene
from blender_addon.scene.render import geometry_outputs

# One setting per factor that moves it visibly.
FACTORS = {
    "platings": ["gold", "silver", "copper"],
    "pin_roughness": [0.1, 0.9],
    "pin_metallic": [0.0, 1.0],
    "pin_variation": 0.3,
    "housing_hue": [0.0, 1.0],
    "housing_saturation": [0.2, 1.0],
    "housing_value": [0.05, 0.9],
    "housing_roughness": [0.05, 1.0],
    "housing_texture": [0.3, 1.0],
    "scratches": [0.5, 1.0],
    "light_presets": ["seed", "ring", "coaxial", "dome"],
    "light_scale": [0.3, 3.0],
    "light_offset": [0.1, 0.4],
    "color_temperature": [2500.0, 12000.0],
    "ambient": [0.0, 2.0],
    "camera_distance": [0.8, 1.2],
    "focal_length": [0.8, 1.2],
    "exposure": [-1.5, 1.5],
    "vignetting": [0.3, 1.0],
    "blur": [0.5, 3.0],
    "shot_noise": [1.0, 3.0],
    "read_noise": [3.0, 10.0],
}


def test_every_factor_of_the_spec_is_covered():
    assert set(FACTORS) | {"per_line"} == {name for name in RandomizeSpec().to_dict()}


def spec_with(factor: str) -> GenerationSpec:
    return GenerationSpec.from_dict(
        {
            "camera": {"rig": "centre", "lens": 42.0},
            "render": {"engine": "CYCLES", "width": 64, "height": 32, "samples": 4},
            "dataset": {"train": 8, "validation": 0, "test": 0, "reference": 0, "twin_share": 1},
            "randomize": {factor: FACTORS[factor]},
        }
    )


def _draw(plan, factor):
    keys = [key for name, key in randomize.SPANS if name == factor]
    if keys:
        return plan.jitter[keys[0]]
    if factor == "pin_variation":
        return plan.jitter["variation_seed"]
    return plan.conditions["plating" if factor == "platings" else "light_preset"]


@pytest.mark.parametrize("factor", sorted(FACTORS))
def test_two_shots_differ_and_a_twin_shares_the_draw(factor):
    spec = spec_with(factor)
    plans = [plan_sample(spec, "train", i) for i in range(spec.dataset.train)]
    draws = [_draw(p, factor) for p in plans]
    assert len(set(map(str, draws))) > 1, f"{factor} is drawn the same for every shot"
    for plan in plans:
        twin = ok_plan_like(plan)
        assert (twin.jitter, twin.conditions) == (plan.jitter, plan.conditions)


def test_no_randomisation_draws_what_the_seed_always_drew():
    spec = GenerationSpec()
    plan = plan_sample(spec, "train", 3)
    assert plan.conditions == {}
    assert set(plan.jitter) == {"cam_dx", "cam_dy", "cam_roll", "light_a", "light_b", "color_r", "color_g", "color_b"}


def _pixels(path):
    return np.round(pixels.load_pixels(path)[..., :3] * 255)


def _render(pin_scene, plan, folder, name):
    paths = {"image": folder / f"{name}.png", "twin": folder / f"{name}-twin.png", "mask": None}
    render_one(pin_scene, plan, paths)
    return _pixels(paths["image"]), _pixels(paths["twin"])


@pytest.mark.parametrize("factor", sorted(FACTORS))
def test_renders_follow_the_draw(tmp_path, factor):
    spec = spec_with(factor)
    pin_scene = build_scene(spec)
    plans = [plan_sample(spec, "train", i) for i in range(spec.dataset.train)]
    defective = next(p for p in plans if p.pin is not None)
    other = next(p for p in plans if str(_draw(p, factor)) != str(_draw(defective, factor)))
    image, twin = _render(pin_scene, defective, tmp_path, "a")
    _image_b, twin_b = _render(pin_scene, other, tmp_path, "b")
    assert np.abs(twin - twin_b).mean() > 0.05, f"{factor}: two shots render alike"
    # The sample differs from its twin only around its defect.
    pose = camera_pose(spec, defective.view, defective.jitter)
    x0, y0, x1, y1 = region.region_box(spec, pose, defective, geometry_outputs(spec, defective)["defect_box"], 1.0)
    diff = np.abs(image - twin).sum(axis=2)
    h = spec.render.height
    inside = diff[h - y1 : h - y0, x0:x1].sum()  # load_pixels rows run bottom-up
    assert diff.sum() > 0 and inside / diff.sum() >= 0.95, f"{factor}: {inside / diff.sum():.3f} inside the defect"


LINES = {
    "dataset": {"train": 48, "validation": 0, "test": 12, "reference": 18, "twin_share": 2, "lines": 3},
    "randomize": {
        "housing_value": [0.05, 0.9],
        "light_presets": ["seed", "ring", "dome"],
        "exposure": [-1.0, 1.0],
        "per_line": ["housing_value", "light_presets"],
    },
}


def test_a_per_line_factor_holds_on_its_line_and_differs_between_lines():
    """dataset.lines: twin groups go to the lines in turn; a per_line factor is one draw per line (shared by
    every split and the line's references), the others stay per shot."""
    spec = GenerationSpec.from_dict(LINES)
    plans = [plan_sample(spec, "train", i) for i in range(48)] + [plan_sample(spec, "test", i) for i in range(12)]
    refs = [plan_reference(spec, i) for i in range(18)]
    by_line = {}
    for plan in plans + refs:
        by_line.setdefault(plan.line, []).append(plan)
    assert sorted(by_line) == [0, 1, 2] and [p.line for p in plans[:6]] == [0, 0, 1, 1, 2, 2]
    for group in by_line.values():
        assert len({p.jitter["housing_v"] for p in group}) == 1
        assert len({p.conditions["light_preset"] for p in group}) == 1
        assert len({p.jitter["exposure"] for p in group}) > 1  # per shot still
    assert len({group[0].jitter["housing_v"] for group in by_line.values()}) == 3
    # every line's unit space sees every camera, twice here
    units = [(line, view) for line in range(3) for view in spec.camera.views]
    assert sorted((r.line, r.view) for r in refs) == sorted(units * 2)
    # stratified over the lines: three lines light the three presets, and take a third of the range each
    assert sorted(group[0].conditions["light_preset"] for group in by_line.values()) == ["dome", "ring", "seed"]
    strata = sorted(int((group[0].jitter["housing_v"] - 0.05) / (0.85 / 3)) for group in by_line.values())
    assert strata == [0, 1, 2]
    twin = ok_plan_like(plans[1])
    assert twin.line == plans[1].line and twin.jitter == plans[1].jitter


def test_one_line_draws_what_it_drew_before_lines_existed():
    plain = GenerationSpec.from_dict({**LINES, "dataset": {**LINES["dataset"], "lines": 1, "reference": 6}})
    randomize_only = {k: v for k, v in LINES["randomize"].items() if k != "per_line"}
    before = GenerationSpec.from_dict({"dataset": plain.dataset.to_dict(), "randomize": randomize_only})
    for i in range(8):
        assert plan_sample(plain, "train", i).jitter["exposure"] == plan_sample(before, "train", i).jitter["exposure"]
        assert plan_reference(plain, i).view == plan_reference(before, i).view
    # a folder rendered before lines existed keeps its spec hash (and resumes)
    assert GenerationSpec.from_dict({"dataset": {"lines": 1}, "randomize": {"per_line": []}}).fingerprint() == (
        GenerationSpec().fingerprint()
    )
