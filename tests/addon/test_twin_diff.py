"""Blender tier: a sample and its defect-free twin differ only around the defective pin (Cycles, fixed seed)."""

import numpy as np
import pytest

from blender_addon.contract import schema
from blender_addon.core import camera, sampling
from blender_addon.core.png import read_png
from blender_addon.dataset.runner import render_one
from blender_addon.scene.build import build_scene, clear_scene

MODES = ["retract", "raise", "shift", "tilt_x", "tilt_y", "missing", "wrong_shape"]


@pytest.fixture(scope="module", autouse=True)
def _leave_no_pinscope_scene():
    """Other test modules share this Blender process: remove what this module built."""
    yield
    clear_scene()


@pytest.fixture(scope="module")
def cycles_scene():
    classes = [
        {"name": "ok", "mode": "ok"},
        {"name": "retract", "mode": "retract", "low": 0.5, "high": 0.5},
        {"name": "raise", "mode": "raise", "low": 0.4, "high": 0.4},
        {"name": "shift", "mode": "shift", "low": 0.2, "high": 0.2},
        {"name": "tilt_x", "mode": "tilt_x", "low": 10, "high": 10},
        {"name": "tilt_y", "mode": "tilt_y", "low": 10, "high": 10},
        {"name": "missing", "mode": "missing"},
        {"name": "wrong_shape", "mode": "wrong_shape"},
    ]
    spec = schema.GenerationSpec.from_dict(
        {
            "name": "twins",
            "seed": 11,
            "defects": {"classes": classes},
            "camera": {"lens": 42},
            "render": {"engine": "CYCLES", "width": 64, "height": 32, "samples": 16},
            "dataset": {"train": 16, "validation": 0, "test": 0, "reference": 0},
        }
    )
    return spec, build_scene(spec)


@pytest.mark.parametrize("mode", MODES)
def test_difference_lies_around_the_defect(tmp_path, cycles_scene, mode):
    spec, pin_scene = cycles_scene
    plan = next(p for p in (sampling.plan_sample(spec, "train", i) for i in range(16)) if p.mode == mode)
    paths = {"image": tmp_path / "s.png", "twin": tmp_path / "t.png", "mask": tmp_path / "m.png"}
    result = render_one(pin_scene, plan, paths)
    diff = np.abs(read_png(paths["image"]).astype(int) - read_png(paths["twin"]).astype(int)).sum(-1)
    assert diff.sum() > 0, "the defect must be visible"
    pose = camera.camera_pose(spec, plan.view, plan.jitter)
    distance = pose.location[2] - 0.0
    pitch_px = int(np.ceil(pose.fx * spec.grid.pitch / distance))
    x0, y0, x1, y1 = result["defect_box"]
    grown = np.zeros_like(diff, bool)
    grown[max(0, y0 - pitch_px) : y1 + pitch_px, max(0, x0 - pitch_px) : x1 + pitch_px] = True
    inside = diff[grown].sum() / diff.sum()
    assert inside >= 0.95, f"{mode}: only {inside:.1%} of the difference lies near the defect"


def test_ok_twin_is_the_image(tmp_path, cycles_scene):
    spec, pin_scene = cycles_scene
    plan = next(p for p in (sampling.plan_sample(spec, "train", i) for i in range(16)) if p.mode == "ok")
    paths = {"image": tmp_path / "s.png", "twin": tmp_path / "t.png", "mask": None}
    result = render_one(pin_scene, plan, paths)
    assert len(result["render_s"]) == 1 and result["defect_box"] is None
    assert paths["image"].read_bytes() == paths["twin"].read_bytes()
    # ...and a real second render with the same seed would have given the same picture.
    render_one(pin_scene, plan, {"image": tmp_path / "again.png", "twin": None, "mask": None})
    assert np.array_equal(read_png(tmp_path / "again.png"), read_png(paths["image"]))


def test_the_same_sample_renders_to_the_same_bytes(tmp_path, cycles_scene):
    """Cycles stamps its render time into the PNG text chunks; PinScope drops them, so a re-render of the
    same sample (a resumed or repeated run) has the same file hash, not just the same pixels."""
    spec, pin_scene = cycles_scene
    plan = next(p for p in (sampling.plan_sample(spec, "train", i) for i in range(16)) if p.mode == "tilt_x")
    files = []
    for run in ("a", "b"):
        paths = {"image": tmp_path / f"{run}-s.png", "twin": tmp_path / f"{run}-t.png", "mask": None}
        render_one(pin_scene, plan, paths)
        files.append(paths)
    for role in ("image", "twin"):
        first, second = files[0][role].read_bytes(), files[1][role].read_bytes()
        assert b"tEXt" not in first, f"{role}: text chunk left in the PNG"
        assert first == second, f"{role}: two renders of the same sample differ in bytes"
