"""Blender tier: the built scene follows the core exactly, and each defect mode changes only its pin."""

import math

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from blender_addon.contract import schema
from blender_addon.core import camera, mask, sampling
from blender_addon.core.defects import defect_pieces, pin_placement
from blender_addon.core.png import read_png
from blender_addon.scene.apply import DEFORMED, apply_plan, reset_defects
from blender_addon.scene.build import build_scene, clear_scene
from blender_addon.scene.render import render_image

MODES = ["ok", "retract", "raise", "shift", "tilt_x", "tilt_y", "missing", "wrong_shape", "bend", "twist", "tip"]


@pytest.fixture(scope="module", autouse=True)
def _leave_no_pinscope_scene():
    """Other test modules share this Blender process: remove what this module built."""
    yield
    clear_scene()


def all_modes_spec(**render):
    classes = [{"name": m, "mode": m, "low": 0.0, "high": 0.0} for m in MODES]
    for c in classes:
        c.update(
            {
                "retract": {"low": 0.5, "high": 0.5},
                "raise": {"low": 0.3, "high": 0.3},
                "shift": {"low": 0.2, "high": 0.2},
                "tilt_x": {"low": 10, "high": 10, "random_sign": True},
                "tilt_y": {"low": 12, "high": 12},
                "bend": {"low": 25, "high": 25},
                "twist": {"low": 30, "high": 30, "random_sign": True},
                "tip": {"low": 0.2, "high": 0.2},
            }.get(c["mode"], {})
        )
    return schema.GenerationSpec.from_dict(
        {
            "name": "modes",
            "seed": 5,
            "defects": {"classes": classes},
            "camera": {"lens": 42},
            "render": {"engine": "WORKBENCH", "width": 96, "height": 48, **render},
            "dataset": {"train": 22, "validation": 0, "test": 0, "reference": 0},
        }
    )


def plan_for(spec, mode):
    return next(p for p in (sampling.plan_sample(spec, "train", i) for i in range(22)) if p.mode == mode)


def nominal(spec, pin_scene, index):
    col, row = index % spec.grid.cols, index // spec.grid.cols
    obj = pin_scene.pins[index]
    place = pin_placement(spec, col, row)
    return (
        np.allclose(obj.location, place.loc, atol=1e-6)
        and np.allclose(obj.rotation_euler, place.euler, atol=1e-6)
        and tuple(obj.scale) == (1.0, 1.0, 1.0)
        and obj.data == pin_scene.pin_meshes[index]
    )


@pytest.fixture(scope="module")
def scene():
    spec = all_modes_spec()
    return spec, build_scene(spec)


def test_build_makes_one_collection_and_rebuild_replaces_it(scene):
    spec, pin_scene = scene
    assert [o.name for o in pin_scene.pins][:2] == ["PinScope Pin 000 c0r0", "PinScope Pin 001 c1r0"]
    assert len(pin_scene.pins) == 27 and set(pin_scene.cameras) == {"left", "centre", "right"}
    assert len(pin_scene.lights) == 2 and pin_scene.housing is not None
    count = len(pin_scene.collection.objects)
    again = build_scene(spec)
    assert len(bpy.data.collections["PinScope"].objects) == count
    assert sum(1 for c in bpy.data.collections if c.name.startswith("PinScope")) == 1
    # shape templates + one mesh per pin + the housing: nothing left over from the first build
    assert len([m for m in bpy.data.meshes if m.name.startswith("PinScope")]) == len(again.meshes) + 27 + 1
    assert len({obj.data.name for obj in again.pins}) == 27
    scene_objects = {o.name for o in again.scene.objects}
    assert "Cube" not in scene_objects  # the factory cube never shows up in a PinScope render
    for obj in again.pins:
        assert obj.pass_index == again.pins.index(obj) + 1


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_changes_exactly_its_pin(mode):
    spec = all_modes_spec()
    pin_scene = build_scene(spec)
    plan = plan_for(spec, mode)
    apply_plan(pin_scene, plan)
    others = [i for i in range(27) if i != plan.pin_index]
    assert all(nominal(spec, pin_scene, i) for i in others)
    pose = camera.camera_pose(spec, plan.view, plan.jitter)
    m = mask.rasterise(pose, mask.scene_solids(spec, plan))
    if mode == "ok":
        assert plan.pin is None and all(nominal(spec, pin_scene, i) for i in range(27))
        return
    col, row = plan.pin
    obj = pin_scene.pins[plan.pin_index]
    centre = pin_placement(spec, col, row)
    if mode == "missing":
        assert tuple(obj.scale) == (0.0, 0.0, 0.0) and not (m == plan.pin_index + 1).any()
    else:
        assert not nominal(spec, pin_scene, plan.pin_index)
        moved = pin_placement(spec, col, row, plan.dx, plan.dy, plan.dz, plan.tilt_x, plan.tilt_y, plan.twist)
        pin_scene.scene.view_layers[0].update()
        assert np.allclose(np.array(obj.matrix_world), np.array(moved.matrix4()), atol=1e-5)
    if mode in ("retract", "raise"):
        assert obj.location.z - centre.loc[2] == pytest.approx(plan.dz, abs=1e-6) and plan.dz != 0
        assert (plan.dz < 0) == (mode == "retract")
    if mode == "shift":
        shift = math.hypot(obj.location.x - centre.loc[0], obj.location.y - centre.loc[1])
        assert shift == pytest.approx(0.2, abs=1e-6)
    if mode in ("tilt_x", "tilt_y"):
        axis = 0 if mode == "tilt_x" else 1
        assert abs(math.degrees(obj.rotation_euler[axis])) == pytest.approx(10 if axis == 0 else 12, abs=1e-4)
    if mode == "wrong_shape":
        assert obj.data == pin_scene.meshes[plan.shape] and plan.shape != spec.grid.shape_at(col, row)
    if mode == "twist":
        assert abs(math.degrees(obj.rotation_euler.z)) == pytest.approx(30, abs=1e-4)
    if mode in ("bend", "tip"):  # its own mesh, made of the pieces the mask uses
        pieces = defect_pieces(spec, plan.defective_pins()[0])
        assert obj.data.name.startswith(DEFORMED) and len(obj.data.vertices) == sum(len(p.verts) for p in pieces)
    # The geometric defect box covers the defective pin's mask pixels (or its empty place).
    x0, y0, x1, y1 = mask.defect_box(spec, pose, plan)
    ys, xs = np.nonzero(m == plan.pin_index + 1)
    if mode != "missing":
        assert xs.size and ((xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)).all()
    assert x1 > x0 and y1 > y0
    reset_defects(pin_scene)
    assert all(nominal(spec, pin_scene, i) for i in range(27))


def test_core_projection_matches_blender(scene):
    spec, _ = scene
    pin_scene = build_scene(spec)
    points = [(0.3, -2.0, 0.5), (1.0, 4.0, 1.0), (-1.2, 0.1, -0.2), (0.0, 0.0, 0.0)]
    for i in range(6):
        plan = sampling.plan_sample(spec, "train", i)
        apply_plan(pin_scene, plan)
        pin_scene.scene.view_layers[0].update()
        pose = camera.camera_pose(spec, plan.view, plan.jitter)
        for (u, v), p in zip(pose.project(points), points, strict=True):
            ndc = world_to_camera_view(pin_scene.scene, pin_scene.scene.camera, Vector(p))
            assert (u, v) == pytest.approx((ndc.x * 96, (1 - ndc.y) * 48), abs=1e-3)


LEVELS = (0.25, 0.5, 1.0)  # 27 distinct non-black flat colours, one per pin


def _decode_ids(image):
    codes = np.array([0, 137, 188, 255])  # sRGB bytes of 0 and the three levels
    level = np.abs(image[..., :3, None].astype(int) - codes).argmin(-1)  # 0 = black, 1..3 = a level
    ids = (level[..., 0] - 1) + 3 * (level[..., 1] - 1) + 9 * (level[..., 2] - 1) + 1
    return np.where((level == 0).all(-1), 0, ids)


@pytest.mark.parametrize("mode", ["tilt_x", "shift", "missing", "wrong_shape", "raise", "bend", "twist", "tip"])
def test_mask_equals_an_unaliased_object_colour_render(tmp_path, mode):
    """Workbench with flat object colours and anti-aliasing off shows which object each pixel centre sees."""
    spec = all_modes_spec()
    pin_scene = build_scene(spec)
    shading = pin_scene.scene.display.shading
    shading.light, shading.color_type = "FLAT", "OBJECT"
    shading.show_shadows = shading.show_specular_highlight = False
    pin_scene.scene.display.render_aa = "OFF"
    pin_scene.scene.world.color = (0.0, 0.0, 0.0)
    pin_scene.housing.color = (0.0, 0.0, 0.0, 1.0)
    for i, obj in enumerate(pin_scene.pins):
        obj.color = (LEVELS[i % 3], LEVELS[(i // 3) % 3], LEVELS[i // 9], 1.0)
    plan = plan_for(spec, mode)
    apply_plan(pin_scene, plan)
    render_image(pin_scene, tmp_path / "ids.png", plan.render_seed)
    rendered = _decode_ids(read_png(tmp_path / "ids.png"))
    pose = camera.camera_pose(spec, plan.view, plan.jitter)
    computed = mask.rasterise(pose, mask.scene_solids(spec, plan))
    assert (rendered == computed).mean() >= 0.998, (rendered != computed).sum()
    build_scene(spec)  # leave normal shading for the next test
