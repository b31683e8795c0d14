"""Panels, operators and their poll messages, registered from the repository package (real bpy).

Headless bpy cannot draw a panel (there is no GPU window), so these tests check what a draw would
use: every operator id and property name the panels refer to exists, and every spec section has a
sub-panel. Operators run for real; where one cannot run, its poll message is checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import bpy
import pinscope_schema as schema
import pytest

import blender_addon
from blender_addon.ui import panel_layout, panels, properties

PANELS_SOURCE = (Path(panels.__file__)).read_text()


@pytest.fixture(scope="module")
def scene():
    blender_addon.register()
    yield bpy.context.scene
    blender_addon.unregister()


def _poll_message(op) -> str:
    with pytest.raises(RuntimeError) as err:
        op()
    return str(err.value).split(".poll() ", 1)[1]


def test_every_operator_the_panels_show_is_registered(scene):
    ids = set(re.findall(r'operator\("pinscope\.(\w+)"', PANELS_SOURCE))
    assert len(ids) >= 12
    assert ids <= set(dir(bpy.ops.pinscope))


def test_every_session_property_the_panels_show_exists(scene):
    names = set(re.findall(r'prop\(session, "(\w+)"', PANELS_SOURCE))
    assert names and names <= set(properties.PINSCOPE_PG_session.bl_rna.properties.keys())


def test_every_spec_section_has_a_sub_panel_and_every_drawn_name_is_a_property(scene):
    assert panel_layout.unclaimed_sections(schema.GenerationSpec) == ()
    assert not panels.PINSCOPE_PT_other.poll(bpy.context)
    types = panel_layout.section_types(schema.GenerationSpec)
    for panel in panel_layout.SUB_PANELS:
        for section in panel.sections:
            rna = properties.generated[types[section]].bl_rna.properties
            assert {plan.name for plan in panel_layout.drawn_plans(types[section])} <= set(rna.keys())
    for cls in panels.classes[1:]:
        assert cls.bl_category == "PinScope" and cls.bl_space_type == "VIEW_3D"
        assert cls is panels.PINSCOPE_PT_main or cls.bl_parent_id == "PINSCOPE_PT_main"


def test_poll_messages_say_why_an_operator_cannot_run(scene):
    from blender_addon.ui import viewport

    viewport.forget_pin_scene()
    assert _poll_message(bpy.ops.pinscope.reset_defect) == "Build the grid first"
    assert _poll_message(bpy.ops.pinscope.cancel_render) == "No dataset render is running"
    properties.spec_to_scene(schema.GenerationSpec(), scene)
    scene.pinscope_session.output_dir = "/nonexistent/pinscope-out"
    assert _poll_message(bpy.ops.pinscope.open_output).endswith("does not exist yet: render the dataset first")
    while len(scene.pinscope.defects.classes) > 1:
        scene.pinscope.defects.classes.remove(0)
    assert _poll_message(bpy.ops.pinscope.defect_class_remove) == "A spec needs at least one defect class"


def test_defect_class_list_operators_keep_the_spec_valid(scene):
    properties.spec_to_scene(schema.GenerationSpec(), scene)
    defects = scene.pinscope.defects
    defects.classes_index = 1
    assert bpy.ops.pinscope.defect_class_add() == {"FINISHED"}
    assert [c.name for c in defects.classes] == ["ok", "retract", "class_1", "tilt_x", "tilt_y"]
    assert defects.classes_index == 2
    spec = properties.spec_from_scene(scene)
    assert spec.labels == ["ok", "retract", "class_1", "tilt_x", "tilt_y"]
    assert bpy.ops.pinscope.defect_class_remove() == {"FINISHED"}
    assert properties.spec_from_scene(scene).labels == ["ok", "retract", "tilt_x", "tilt_y"]


def test_reset_spec_uses_the_defaults(scene):
    scene.pinscope.grid.rows = 5
    scene.pinscope.defects.classes.clear()
    assert bpy.ops.pinscope.reset_spec() == {"FINISHED"}
    assert properties.spec_from_scene(scene).to_dict() == schema.GenerationSpec().to_dict()


def test_an_invalid_panel_spec_is_reported_not_built(scene):
    properties.spec_to_scene(schema.GenerationSpec(), scene)
    scene.pinscope.pins.square_width = 1.5  # wider than the pitch (1.0)
    objects_before = sorted(o.name for o in bpy.data.objects)
    with pytest.raises(RuntimeError, match=r"spec\.pins\.square_width: square pins .* must be narrower"):
        bpy.ops.pinscope.build_grid()
    assert sorted(o.name for o in bpy.data.objects) == objects_before


def test_disabling_during_a_modal_render_stops_it_and_keeps_the_folder_resumable(scene, tmp_path):
    """Render Dataset without `blocking` follows its job with a timer; unregistering must stop the job and
    remove the timer (no modal handler is ever added, so none can outlive the add-on)."""
    import time

    from blender_addon.ui import render_ops

    data = schema.GenerationSpec().to_dict()
    data["name"] = "ui-modal-test"
    data["render"].update(engine="WORKBENCH", width=64, height=32, samples=1)
    data["dataset"].update(train=40, validation=0, test=0, reference=0)
    properties.spec_to_scene(schema.GenerationSpec.from_dict(data), scene)
    scene.pinscope_session.output_dir = str(tmp_path / "data")
    assert bpy.ops.pinscope.render_dataset() == {"FINISHED"}  # the render goes on in the background
    assert bpy.app.timers.is_registered(render_ops.on_timer)
    job = render_ops._running["job"]
    assert render_ops.is_running() and bpy.ops.pinscope.cancel_render.poll()
    assert _poll_message(bpy.ops.pinscope.render_dataset) == "A dataset render is already running"
    deadline = time.monotonic() + 120
    while job.poll().done < 1 and not job.poll().finished and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not job.poll().finished  # still rendering when the add-on goes away
    blender_addon.unregister()
    try:
        assert job.process.returncode is not None and job.cancelled
        assert not render_ops.is_running() and not bpy.app.timers.is_registered(render_ops.on_timer)
        assert schema.validate_dataset(tmp_path / "data", require_complete=False) == []
    finally:
        blender_addon.register()  # the module fixture unregisters at the end


def _start_modal_render(scene, out, train):
    data = schema.GenerationSpec().to_dict()
    data["name"] = "ui-modal-ticks"
    data["render"].update(engine="WORKBENCH", width=64, height=32, samples=1)
    data["dataset"].update(train=train, validation=0, test=0, reference=0)
    properties.spec_to_scene(schema.GenerationSpec.from_dict(data), scene)
    scene.pinscope_session.output_dir = str(out)
    assert bpy.ops.pinscope.render_dataset() == {"FINISHED"}


def test_modal_ticks_follow_the_render_to_the_end(scene, tmp_path):
    """What the timer does on each call (headless bpy has no event loop to call it)."""
    import time

    from blender_addon.ui import render_ops

    _start_modal_render(scene, tmp_path / "data", train=4)
    fractions = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        result, level, message = render_ops.tick(bpy.context)
        fractions.append(scene.pinscope_session.progress)
        if result != {"PASS_THROUGH"}:
            break
        time.sleep(0.1)
    assert (result, level) == ({"FINISHED"}, "INFO") and message.startswith("Dataset written to")
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert scene.pinscope_session.progress_text.endswith("(done)")
    assert not render_ops.is_running() and not bpy.app.timers.is_registered(render_ops.on_timer)
    assert schema.validate_dataset(tmp_path / "data") == []


def test_cancel_button_stops_on_the_next_tick_and_a_rerun_resumes(scene, tmp_path):
    import time

    from blender_addon.ui import render_ops

    _start_modal_render(scene, tmp_path / "data", train=30)
    job = render_ops._running["job"]
    deadline = time.monotonic() + 120
    while job.poll().done < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert bpy.ops.pinscope.cancel_render() == {"FINISHED"}
    result, level, message = render_ops.tick(bpy.context)
    assert (result, level) == ({"CANCELLED"}, "WARNING") and "again to resume" in message
    assert "(cancelled)" in scene.pinscope_session.progress_text
    assert schema.validate_dataset(tmp_path / "data", require_complete=False) == []
    assert bpy.ops.pinscope.render_dataset(blocking=True) == {"FINISHED"}
    assert schema.validate_dataset(tmp_path / "data") == []


def test_the_camera_panel_shows_the_fitted_camera(scene):
    header = Path(__file__).parents[2] / "specs" / "connectors" / "header-2x20-p2.54.json"
    properties.spec_to_scene(schema.load_spec(header), scene)
    lines = panels.optics_lines(scene)
    assert lines[0].startswith("Camera fitted: ") and "mm from the pin tips" in lines[0]
    assert "um per pixel" in lines[1] and "Part spans 0.9" in lines[2]
    scene.pinscope.camera.working_distance = 0.5
    scene.pinscope.camera.fit_by = "focal_length"
    assert panels.optics_lines(scene)[0].startswith("spec.camera.working_distance: ")


def test_the_panel_shows_lengths_in_millimetres(scene):
    properties.spec_to_scene(schema.GenerationSpec(), scene)
    units = scene.unit_settings
    assert (units.system, units.length_unit) == ("METRIC", "MILLIMETERS") and units.scale_length == pytest.approx(0.001)
    pitch = properties.generated[schema.GridSpec].bl_rna.properties["pitch"]
    assert pitch.unit == "LENGTH"  # drawn with the scene's unit: "1 mm"
    assert bpy.utils.units.to_string("METRIC", "LENGTH", 2.54 * 0.001, precision=3) == "2.54 mm"
