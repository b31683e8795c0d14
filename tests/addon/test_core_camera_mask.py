"""Pure core: camera projection, exact masks and pixel boxes."""

import math

import numpy as np
import pytest

from blender_addon.contract import schema
from blender_addon.core import camera, mask, sampling
from blender_addon.core.sampling import SamplePlan


def spec_with(**parts):
    base = {"render": {"width": 96, "height": 32}, "camera": {"lens": 42}}
    for key, value in parts.items():
        base.setdefault(key, {}).update(value) if isinstance(value, dict) else base.__setitem__(key, value)
    return schema.GenerationSpec.from_dict(base)


def make_plan(spec, mode, pin=(1, 4), view="centre", **amounts):
    values = dict(dx=0.0, dy=0.0, dz=0.0, tilt_x=0.0, tilt_y=0.0)
    values.update(amounts)
    shape = ""
    if mode != "ok":
        shape = spec.grid.shape_at(*pin)
        if mode == "wrong_shape":
            shape = {"square": "round", "round": "square"}[shape]
    return SamplePlan(
        "train",
        0,
        mode,
        mode,
        None if mode == "ok" else pin,
        -1 if mode == "ok" else pin[1] * spec.grid.cols + pin[0],
        shape,
        view=view,
        seed=1,
        jitter={"cam_dx": 0.01, "cam_dy": -0.03, "cam_roll": 0.3},
        **values,
    )


def test_camera_looks_at_the_array_and_rays_invert_projection():
    spec = spec_with()
    centre = camera.camera_pose(spec, "centre")
    u, v = centre.project([(0.0, 0.0, 0.0)])[0]
    assert (u, v) == pytest.approx((48.0, 16.0))
    for view in ("left", "right"):  # side cameras are tilted back onto the array centre
        u, v = camera.camera_pose(spec, view).project([(0.0, 0.0, 0.0)])[0]
        assert (u, v) == pytest.approx((48.0, 16.0), abs=0.05)
    # Rows (Y) run left to right, columns (X) top to bottom: the array's long axis is horizontal.
    (u0, v0), (u1, v1) = centre.project([(0.0, -4.0, 0.0), (1.0, 0.0, 0.0)])
    assert u0 < 48.0 and v0 == pytest.approx(16.0) and v1 > 16.0 and u1 == pytest.approx(48.0)
    pose = camera.camera_pose(spec, "left", {"cam_dx": 0.02, "cam_dy": 0.04, "cam_roll": 0.4})
    for uv in [(3.2, 7.9), (50.0, 20.5), (90.1, 1.0)]:
        origin, d = pose.ray(*uv)
        point = tuple(origin[k] + 5.0 * d[k] for k in range(3))
        assert pose.project([point])[0] == pytest.approx(uv)
    k, e = pose.intrinsics(), pose.world_to_camera()
    assert k[0][0] == pytest.approx(42 / 36 * 96) and len(e) == 4 and e[3] == [0.0, 0.0, 0.0, 1.0]


def test_jitter_keeps_the_camera_aimed():
    spec = spec_with()
    base = camera.camera_pose(spec, "centre")
    moved = camera.camera_pose(spec, "centre", {"cam_dx": 0.025, "cam_dy": 0.05, "cam_roll": 0.0})
    assert moved.location != base.location
    assert moved.project([(0.0, 0.0, 0.0)])[0] == pytest.approx((48.0, 16.0), abs=0.01)


CASES = [
    ("ok", {}),
    ("retract", {"dz": -0.5}),
    ("raise", {"dz": 0.4}),
    ("shift", {"dx": 0.2, "dy": -0.15}),
    ("tilt_x", {"tilt_x": 10.0}),
    ("tilt_y", {"tilt_y": -25.0}),
    ("missing", {}),
    ("wrong_shape", {}),
]


@pytest.mark.parametrize("mode,amounts", CASES)
def test_mask_pixels_lie_in_their_boxes_and_the_defect_box(mode, amounts):
    spec = spec_with(render={"width": 192, "height": 64})
    plan = make_plan(spec, mode, pin=(2, 3), view="left", **amounts)
    pose = camera.camera_pose(spec, plan.view, plan.jitter)
    m = mask.rasterise(pose, mask.scene_solids(spec, plan))
    boxes = mask.pin_boxes(spec, pose, plan)
    assert len(boxes) == 27
    present = set(np.unique(m).tolist()) - {0}
    expected = set(range(1, 28)) - ({plan.pin_index + 1} if mode == "missing" else set())
    assert present == expected
    for index, (x0, y0, x1, y1) in enumerate(boxes):
        ys, xs = np.nonzero(m == index + 1)
        if xs.size:
            assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1, index
    dbox = mask.defect_box(spec, pose, plan, boxes)
    if mode == "ok":
        assert dbox is None
        return
    x0, y0, x1, y1 = dbox
    ys, xs = np.nonzero(m == plan.pin_index + 1)
    assert xs.size == 0 or (x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1)
    assert (x1 - x0) * (y1 - y0) < 192 * 64 / 10  # the defect box is about one pin, not the image


def test_a_tilted_pin_covers_pixels_its_neighbour_had():
    spec = spec_with(render={"width": 192, "height": 64})
    ok = make_plan(spec, "ok")
    tilted = make_plan(spec, "tilt_x", pin=(1, 4), tilt_x=40.0)
    pose = camera.camera_pose(spec, "centre", ok.jitter)
    before = mask.rasterise(pose, mask.scene_solids(spec, ok))
    after = mask.rasterise(pose, mask.scene_solids(spec, tilted))
    changed = before != after
    assert changed.any()
    assert set(np.unique(after[changed]).tolist()) <= {0, 14, 13}  # only the tilted pin (index 13) moves


def test_housing_hides_the_pin_below_its_top():
    spec = spec_with(render={"width": 192, "height": 64})
    pose = camera.camera_pose(spec, "centre")
    deep = make_plan(spec, "retract", dz=-1.7)  # top 0.3 below... the housing top at -0.2
    m = mask.rasterise(pose, mask.scene_solids(spec, deep))
    assert (m == deep.pin_index + 1).sum() == 0
    open_spec = spec_with(render={"width": 192, "height": 64}, housing={"kind": "none"})
    m2 = mask.rasterise(pose, mask.scene_solids(open_spec, deep))
    assert (m2 == deep.pin_index + 1).sum() > 0


def test_sampled_plans_give_consistent_geometry():
    spec = spec_with(render={"width": 64, "height": 32})
    for i in range(12):
        plan = sampling.plan_sample(spec, "train", i)
        pose = camera.camera_pose(spec, plan.view, plan.jitter)
        boxes = mask.pin_boxes(spec, pose, plan)
        assert all(0 <= b[0] <= b[2] <= 64 and 0 <= b[1] <= b[3] <= 32 for b in boxes)
        assert math.isfinite(pose.fx)
