"""Operators that edit the spec or the viewport scene: spec files, defect classes, grid, defect preview.

Every operator reads the panel's spec through properties.spec_from_scene (validated by the contract)
and hands it to the renderer's functions; a bad value is reported as the contract's one-line error.
The render operators live in ui/render_ops.py; both share the viewport scene of ui/viewport.py.
"""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..contract import schema
from ..core.sampling import plan_sample
from ..scene.apply import apply_plan, reset_defects
from . import prefs, properties
from .viewport import (
    build_pin_scene,
    built_pin_scene,
    describe_plan,
    ensure_spec,
    forget_pin_scene,
    pin_scene_for,
    spec_or_report,
)

# --- spec files ----------------------------------------------------------------------------------


class PINSCOPE_OT_save_spec(bpy.types.Operator, ExportHelper):
    """Save the panel's spec as JSON (the same file the headless CLI reads)"""

    bl_idname = "pinscope.save_spec"
    bl_label = "Save Spec"
    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    def invoke(self, context, event):
        if not self.filepath:  # suggest <spec name>.json rather than the .blend's name
            ensure_spec(context)
            self.filepath = f"{context.scene.pinscope.name}.json"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        ensure_spec(context)
        spec = spec_or_report(self, context)
        if spec is None:
            return {"CANCELLED"}
        path = Path(bpy.path.abspath(self.filepath))
        schema.write_json_atomic(path, spec.to_dict())
        self.report({"INFO"}, f"Saved spec {spec.name} ({spec.fingerprint()}) to {path}")
        return {"FINISHED"}


class PINSCOPE_OT_load_spec(bpy.types.Operator, ImportHelper):
    """Load a spec JSON (or TOML) into the panel"""

    bl_idname = "pinscope.load_spec"
    bl_label = "Load Spec"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json;*.toml", options={"HIDDEN"})

    def execute(self, context):
        try:
            spec = schema.load_spec(bpy.path.abspath(self.filepath))
        except schema.ContractError as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        properties.spec_to_scene(spec, context.scene)
        self.report({"INFO"}, f"Loaded spec {spec.name} ({spec.fingerprint()})")
        return {"FINISHED"}


class PINSCOPE_OT_reset_spec(bpy.types.Operator):
    """Replace the panel's spec with the defaults (engine and device from the preferences)"""

    bl_idname = "pinscope.reset_spec"
    bl_label = "Default Spec"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        preferences = prefs.get(context)
        engine, device = (preferences.engine, preferences.device) if preferences else (None, None)
        properties.reset_to_defaults(context.scene, engine, device)
        return {"FINISHED"}


# --- defect classes (the Defects panel's list) ---------------------------------------------------


class PINSCOPE_OT_defect_class_add(bpy.types.Operator):
    """Add a defect class (a new label) after the selected one"""

    bl_idname = "pinscope.defect_class_add"
    bl_label = "Add Defect Class"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if len(context.scene.pinscope.defects.classes) >= _max_classes():
            cls.poll_message_set(f"A spec holds at most {_max_classes()} defect classes")
            return False
        return True

    def execute(self, context):
        ensure_spec(context)
        defects = context.scene.pinscope.defects
        names = {c.name for c in defects.classes}
        number = next(n for n in range(1, 1000) if f"class_{n}" not in names)
        item = defects.classes.add()
        properties.spec_props.record_to_props(
            schema.DefectClass(name=f"class_{number}", mode="retract", low=0.5, high=0.5), item
        )
        target = min(defects.classes_index + 1, len(defects.classes) - 1)
        defects.classes.move(len(defects.classes) - 1, target)
        defects.classes_index = target
        return {"FINISHED"}


class PINSCOPE_OT_defect_class_remove(bpy.types.Operator):
    """Remove the selected defect class"""

    bl_idname = "pinscope.defect_class_remove"
    bl_label = "Remove Defect Class"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        defects = context.scene.pinscope.defects
        if len(defects.classes) <= 1:
            cls.poll_message_set("A spec needs at least one defect class")
            return False
        if not 0 <= defects.classes_index < len(defects.classes):
            cls.poll_message_set("Select a defect class in the list first")
            return False
        return True

    def execute(self, context):
        defects = context.scene.pinscope.defects
        defects.classes.remove(defects.classes_index)
        defects.classes_index = min(defects.classes_index, len(defects.classes) - 1)
        return {"FINISHED"}


def _max_classes() -> int:
    meta = next(f.metadata for f in schema.DefectSpec.__dataclass_fields__.values() if f.name == "classes")
    return meta["max_items"]


# --- the viewport scene --------------------------------------------------------------------------


class PINSCOPE_OT_build_grid(bpy.types.Operator):
    """Build (or rebuild) the pin grid, housing, cameras and lights from the spec"""

    bl_idname = "pinscope.build_grid"
    bl_label = "Build / Update Grid"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if context.mode != "OBJECT":
            cls.poll_message_set("Switch to Object Mode to rebuild the grid")
            return False
        return True

    def execute(self, context):
        ensure_spec(context)
        spec = spec_or_report(self, context)
        if spec is None:
            return {"CANCELLED"}
        pin_scene = build_pin_scene(context, spec)
        for scene in {context.scene, pin_scene.scene}:
            scene.pinscope_session.preview_label = ""
        self.report({"INFO"}, f"Built {len(pin_scene.pins)} pins ({spec.grid.cols} x {spec.grid.rows})")
        return {"FINISHED"}


class PINSCOPE_OT_preview_defect(bpy.types.Operator):
    """Apply the chosen sample's defect to the viewport grid (label shown in the panel)"""

    bl_idname = "pinscope.preview_defect"
    bl_label = "Preview Defect"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if context.mode != "OBJECT":
            cls.poll_message_set("Switch to Object Mode to preview a defect")
            return False
        return True

    def execute(self, context):
        ensure_spec(context)
        spec = spec_or_report(self, context)
        if spec is None:
            return {"CANCELLED"}
        session = context.scene.pinscope_session
        try:
            plan = plan_sample(spec, session.preview_split, session.preview_index)
        except (schema.ContractError, ValueError, IndexError) as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        pin_scene = pin_scene_for(context, spec)
        apply_plan(pin_scene, plan)
        for scene in {context.scene, pin_scene.scene}:  # the one shown, and the one the window may switch to
            scene.pinscope_session.preview_label = describe_plan(plan)
        self.report({"INFO"}, f"Previewing {describe_plan(plan)}")
        return {"FINISHED"}


class PINSCOPE_OT_reset_defect(bpy.types.Operator):
    """Put every pin back in place (the OK state)"""

    bl_idname = "pinscope.reset_defect"
    bl_label = "Reset Defect"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if built_pin_scene() is None:
            cls.poll_message_set("Build the grid first")
            return False
        return True

    def execute(self, context):
        pin_scene = built_pin_scene()
        reset_defects(pin_scene)
        for scene in {context.scene, pin_scene.scene}:
            scene.pinscope_session.preview_label = ""
        return {"FINISHED"}


classes = (
    PINSCOPE_OT_save_spec,
    PINSCOPE_OT_load_spec,
    PINSCOPE_OT_reset_spec,
    PINSCOPE_OT_defect_class_add,
    PINSCOPE_OT_defect_class_remove,
    PINSCOPE_OT_build_grid,
    PINSCOPE_OT_preview_defect,
    PINSCOPE_OT_reset_defect,
)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
    forget_pin_scene()
