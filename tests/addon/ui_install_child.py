"""Run inside a fresh bpy process by test_ui_install.py: install the built zip, drive every operator.

    python ui_install_child.py <addon.zip> <work dir> <facts.json>

BLENDER_USER_RESOURCES must point into <work dir> before bpy is imported (the parent sets it), so
the extension goes into a clean, temporary user folder. Writes what it observed to facts.json; the
parent test asserts on it. A step that raises stops the script (non-zero exit, traceback on stderr),
and the facts gathered so far are still written.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import bpy

ZIP, WORK, FACTS = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
MODULE = "bl_ext.user_default.pinscope"
facts: dict = {}


def save_facts():
    FACTS.write_text(json.dumps(facts, indent=1, default=str))


def tiny_spec(schema):
    """A 64 px Workbench spec with a handful of samples: seconds to render on two shared cores."""
    data = schema.GenerationSpec().to_dict()
    data["name"] = "ui-install-test"
    data["render"].update(engine="WORKBENCH", width=64, height=32, samples=1)
    data["dataset"].update(train=4, validation=2, test=2, reference=1)
    return data


def install():
    from importlib.util import find_spec

    facts["repo_importable"] = {name: find_spec(name) is not None for name in ("blender_addon", "pinscope_schema")}
    result = bpy.ops.extensions.package_install_files(filepath=str(ZIP), repo="user_default", enable_on_install=True)
    facts["install_result"] = sorted(result)
    facts["enabled"] = MODULE in bpy.context.preferences.addons
    package = sys.modules[MODULE]
    facts["package_file"] = package.__file__
    facts["schema_module"] = package.contract.schema.__name__
    return package


def spec_files(schema):
    spec_in = WORK / "spec_in.json"
    spec_in.write_text(json.dumps(tiny_spec(schema)))
    facts["load_spec"] = sorted(bpy.ops.pinscope.load_spec(filepath=str(spec_in)))
    spec_out = WORK / "spec_out.json"
    facts["save_spec"] = sorted(bpy.ops.pinscope.save_spec(filepath=str(spec_out)))
    facts["spec_round_trip_equal"] = json.loads(spec_out.read_text()) == json.loads(spec_in.read_text())
    bad = WORK / "bad.json"
    bad_data = tiny_spec(schema)
    bad_data["grid"]["rows"] = 0
    bad.write_text(json.dumps(bad_data))
    try:
        bpy.ops.pinscope.load_spec(filepath=str(bad))
        facts["bad_spec_error"] = None
    except RuntimeError as err:  # an operator's ERROR report reaches scripts as RuntimeError
        facts["bad_spec_error"] = str(err).strip()
    facts["rows_after_bad_load"] = bpy.context.scene.pinscope.grid.rows


def build_grid(package, schema):
    facts["build_grid_undoable"] = "UNDO" in bpy.types.PINSCOPE_OT_build_grid.bl_options
    facts["build_grid"] = sorted(bpy.ops.pinscope.build_grid())
    scene = bpy.context.scene
    spec = package.ui.properties.spec_from_scene(scene)
    collection = bpy.data.collections["PinScope"]
    pins = sorted((o for o in collection.objects if " Pin " in o.name), key=lambda o: o.pass_index)
    facts["scene_shown"] = scene.name
    facts["pin_count"] = len(pins)
    facts["expected_pin_count"] = spec.grid.pin_count
    facts["pin_shapes"] = [o.data.name.split()[1] for o in pins]
    facts["expected_shapes"] = spec.grid.shapes()
    facts["cameras"] = sorted(o.name for o in collection.objects if o.type == "CAMERA")
    # Rebuilding replaces, never duplicates.
    bpy.ops.pinscope.build_grid()
    facts["pin_count_after_rebuild"] = sum(" Pin " in o.name for o in bpy.data.collections["PinScope"].objects)
    return spec


def preview(package, spec):
    from importlib import import_module

    plan_sample = import_module(f"{MODULE}.core.sampling").plan_sample
    index = next(i for i in range(50) if plan_sample(spec, "train", i).mode != "ok")
    plan = plan_sample(spec, "train", index)
    scene = bpy.context.scene
    scene.pinscope_session.preview_split, scene.pinscope_session.preview_index = "train", index
    pins = sorted(
        (o for o in bpy.data.collections["PinScope"].objects if " Pin " in o.name), key=lambda o: o.pass_index
    )
    before = [o.matrix_world.copy() for o in pins]
    facts["preview_defect"] = sorted(bpy.ops.pinscope.preview_defect())
    changed = [i for i, o in enumerate(pins) if o.matrix_world != before[i]]
    facts["preview_mode"], facts["preview_pin_index"], facts["pins_moved"] = plan.mode, plan.pin_index, changed
    facts["preview_label"] = scene.pinscope_session.preview_label
    facts["preview_qeu_code"] = plan.qeu_code
    facts["reset_defect"] = sorted(bpy.ops.pinscope.reset_defect())
    facts["pins_moved_after_reset"] = [i for i, o in enumerate(pins) if o.matrix_world != before[i]]
    facts["label_after_reset"] = scene.pinscope_session.preview_label
    start = time.perf_counter()
    facts["render_preview"] = sorted(bpy.ops.pinscope.render_preview())
    facts["render_preview_s"] = round(time.perf_counter() - start, 2)
    facts["preview_images"] = {
        name: list(bpy.data.images[name].size)
        for name in ("PinScope Preview", "PinScope Twin")
        if name in bpy.data.images
    }
    facts["preview_differs_from_twin"] = _pixels("PinScope Preview") != _pixels("PinScope Twin")


def _pixels(name):
    image = bpy.data.images[name]
    return tuple(round(v, 4) for v in image.pixels[:])


def render_dataset(schema):
    scene = bpy.context.scene
    out = WORK / "dataset"
    scene.pinscope_session.output_dir = str(out)
    scene.pinscope_session.workers = 0  # 0 = the preferences' worker count
    bpy.context.preferences.addons[MODULE].preferences.workers = 2
    facts["workers_used"] = sys.modules[f"{MODULE}.ui.render_ops"].worker_settings(bpy.context)[1]
    facts["cancel_poll_idle"] = bpy.ops.pinscope.cancel_render.poll()
    facts["open_output_poll_before"] = bpy.ops.pinscope.open_output.poll()
    start = time.perf_counter()
    facts["render_dataset"] = sorted(bpy.ops.pinscope.render_dataset(blocking=True))
    facts["render_dataset_s"] = round(time.perf_counter() - start, 2)
    facts["progress"], facts["progress_text"] = scene.pinscope_session.progress, scene.pinscope_session.progress_text
    facts["running_after"] = sys.modules[f"{MODULE}.ui.render_ops"].is_running()
    facts["dataset_problems"] = schema.validate_dataset(out)
    manifest = schema.read_manifest(out)
    facts["dataset_counts"] = manifest.counts
    facts["dataset_spec_hash_matches"] = manifest.spec_hash == package_spec_hash(schema, scene)
    facts["open_output_poll_after"] = bpy.ops.pinscope.open_output.poll()
    binary = shutil.which("blender")
    if binary:  # the path a Blender user takes: the installed cli.py run by a blender executable
        preferences = bpy.context.preferences.addons[MODULE].preferences
        preferences.blender_binary, preferences.workers = binary, 1
        scene.pinscope_session.output_dir = str(WORK / "dataset-binary")
        facts["binary_render_dataset"] = sorted(bpy.ops.pinscope.render_dataset(blocking=True))
        facts["binary_dataset_problems"] = schema.validate_dataset(WORK / "dataset-binary")
        preferences.blender_binary = ""


def package_spec_hash(schema, scene):
    return sys.modules[f"{MODULE}.ui.properties"].spec_from_scene(scene).fingerprint()


def disable():
    package = sys.modules[MODULE]
    ours = {f"{MODULE}.{name}" for name in ("ui.panels", "ui.operators", "ui.render_ops", "ui.properties")}
    groups = list(package.ui.properties.classes())  # generated at register time, forgotten at unregister
    facts["groups_registered_while_enabled"] = sum(cls.is_registered for cls in groups)
    facts["statusbar_draw_while_enabled"] = [
        f.__module__ for f in getattr(bpy.types.STATUSBAR_HT_header.draw, "_draw_funcs", []) if f.__module__ in ours
    ]
    bpy.ops.preferences.addon_disable(module=MODULE)
    facts["enabled_after_disable"] = MODULE in bpy.context.preferences.addons
    facts["leftover_types"] = [name for name in dir(bpy.types) if name.upper().startswith("PINSCOPE")]
    facts["leftover_ops"] = list(dir(bpy.ops.pinscope))
    facts["leftover_scene_props"] = [p for p in ("pinscope", "pinscope_session") if hasattr(bpy.types.Scene, p)]
    facts["leftover_statusbar_draw"] = [
        f.__module__ for f in getattr(bpy.types.STATUSBAR_HT_header.draw, "_draw_funcs", []) if f.__module__ in ours
    ]
    handlers = [
        h
        for name in dir(bpy.app.handlers)
        if not name.startswith("_")
        for h in (getattr(bpy.app.handlers, name) if isinstance(getattr(bpy.app.handlers, name), list) else [])
    ]
    facts["leftover_handlers"] = [h.__module__ for h in handlers if getattr(h, "__module__", "").startswith(MODULE)]
    render_ops = sys.modules[f"{MODULE}.ui.render_ops"]
    facts["leftover_job"] = render_ops._running["job"] is not None
    facts["leftover_timers"] = [
        name
        for name in dir(render_ops)
        if callable(getattr(render_ops, name)) and bpy.app.timers.is_registered(getattr(render_ops, name))
    ]
    facts["generated_groups_registered"] = [cls.__name__ for cls in groups if cls.is_registered]
    # Enabling again works (nothing half-registered blocks it).
    bpy.ops.preferences.addon_enable(module=MODULE)
    facts["reenabled"] = hasattr(bpy.types.Scene, "pinscope") and "build_grid" in dir(bpy.ops.pinscope)
    bpy.ops.preferences.addon_disable(module=MODULE)


def legacy_install():
    """Blender's pre-4.2 path: Preferences > Add-ons > Install (the zip carries bl_info for it)."""
    facts["legacy_install"] = sorted(bpy.ops.preferences.addon_install(filepath=str(ZIP)))
    bpy.ops.preferences.addon_enable(module="pinscope")
    facts["legacy_enabled"] = "pinscope" in bpy.context.preferences.addons
    facts["legacy_schema_module"] = sys.modules["pinscope"].contract.schema.__name__
    facts["legacy_build_grid"] = sorted(bpy.ops.pinscope.build_grid())
    facts["legacy_pin_count"] = sum(" Pin " in o.name for o in bpy.data.collections["PinScope"].objects)
    bpy.ops.preferences.addon_disable(module="pinscope")
    facts["legacy_leftover_types"] = [name for name in dir(bpy.types) if name.upper().startswith("PINSCOPE")]


def main():
    try:
        package = install()
        schema = package.contract.schema
        spec_files(schema)
        spec = build_grid(package, schema)
        preview(package, spec)
        render_dataset(schema)
        disable()
        legacy_install()
    finally:
        save_facts()


if __name__ == "__main__":
    main()
