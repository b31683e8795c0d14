"""The PinScope sidebar (View3D > Sidebar > PinScope): one parent panel and one sub-panel per topic.

Panels draw the spec's properties from the same plans that created them (ui/spec_props.py), so a
new spec field shows up in its section without a change here. Only layout choices live here: which
spec sections go in which sub-panel, and the defect class list.
"""

from __future__ import annotations

import bpy

from ..contract import schema
from ..core.camera import optics_summary
from . import panel_layout, properties, render_ops

CATEGORY = "PinScope"
PANELS = {panel.key: panel for panel in panel_layout.SUB_PANELS}


def draw_record(layout, group, cls, skip=()):
    """Draw every plain field of a record group (nested records and lists are drawn by their panel)."""
    plans = panel_layout.drawn_plans(cls, skip)
    switches = {plan.name for plan in plans if plan.role in ("random", "drawn")}
    for plan in plans:
        if plan.role in ("random", "drawn"):
            layout.prop(group, plan.name)
            continue
        column = layout.column(align=True)
        if f"{plan.field}_random" in switches:
            column.enabled = not getattr(group, f"{plan.field}_random")
        if f"{plan.field}_drawn" in switches:  # a range greyed out while it is not drawn
            column.enabled = getattr(group, f"{plan.field}_drawn")
        labels = panel_layout.COMPONENT_LABELS.get(plan.name)
        if labels and plan.factory == "IntVectorProperty":
            for i, label in enumerate(labels):
                column.prop(group, plan.name, index=i, text=label)
        else:
            column.prop(group, plan.name)


def _session(context):
    return context.scene.pinscope_session


class _SidebarPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY


class PINSCOPE_PT_main(_SidebarPanel, bpy.types.Panel):
    bl_idname = "PINSCOPE_PT_main"
    bl_label = "PinScope"

    def draw(self, context):
        layout = self.layout
        session = _session(context)
        problem = properties.spec_problem(context.scene)
        if problem:  # shown before any operator refuses to run
            box = layout.box()
            box.alert = True
            box.label(text=problem, icon="ERROR")
        row = layout.row(align=True)
        row.operator("pinscope.load_spec", icon="FILEBROWSER", text="Load")
        row.operator("pinscope.save_spec", icon="FILE_TICK", text="Save")
        row.operator("pinscope.reset_spec", icon="LOOP_BACK", text="Defaults")
        layout.operator("pinscope.build_grid", icon="MESH_GRID")
        box = layout.box()
        row = box.row(align=True)
        row.prop(session, "preview_split", text="")
        row.prop(session, "preview_index")
        row = box.row(align=True)
        row.operator("pinscope.preview_defect", icon="MODIFIER")
        row.operator("pinscope.reset_defect", icon="LOOP_BACK", text="Reset")
        if session.preview_label:
            box.label(text=session.preview_label, icon="INFO")
        box.operator("pinscope.render_preview", icon="RENDER_STILL")


class _SpecSubPanel(_SidebarPanel):
    bl_parent_id = "PINSCOPE_PT_main"
    bl_options = {"DEFAULT_CLOSED"}
    sections = ()  # spec sections drawn (set by each sub-panel)

    def draw(self, context):
        self.draw_sections(context, self.sections)

    def draw_sections(self, context, sections):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        spec_group = context.scene.pinscope
        types = panel_layout.section_types(schema.GenerationSpec)
        for name in sections:
            if len(sections) > 1:
                layout.label(text=name.capitalize())
            draw_record(layout.column(), getattr(spec_group, name), types[name])


class PINSCOPE_PT_grid(_SpecSubPanel, bpy.types.Panel):
    bl_label = "Grid & Shapes"
    bl_options = set()
    sections = PANELS["grid"].sections


class PINSCOPE_PT_housing(_SpecSubPanel, bpy.types.Panel):
    bl_label = "Housing"
    sections = PANELS["housing"].sections


class PINSCOPE_UL_defect_classes(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row(align=True)
        row.prop(item, "name", text="", emboss=False)
        row.label(text=item.mode)
        row.label(text=f"x{item.quota:g}")


class PINSCOPE_PT_defects(_SpecSubPanel, bpy.types.Panel):
    bl_label = "Defects"
    sections = PANELS["defects"].sections

    def draw(self, context):
        layout = self.layout
        defects = context.scene.pinscope.defects
        row = layout.row()
        row.template_list("PINSCOPE_UL_defect_classes", "", defects, "classes", defects, "classes_index", rows=4)
        column = row.column(align=True)
        column.operator("pinscope.defect_class_add", icon="ADD", text="")
        column.operator("pinscope.defect_class_remove", icon="REMOVE", text="")
        if 0 <= defects.classes_index < len(defects.classes):
            body = layout.column()
            body.use_property_split = True
            body.use_property_decorate = False
            draw_record(body, defects.classes[defects.classes_index], schema.DefectClass)
        body = layout.column()
        body.use_property_split = True
        body.use_property_decorate = False
        draw_record(body, defects, schema.DefectSpec, skip=("classes",))


class PINSCOPE_PT_camera(_SpecSubPanel, bpy.types.Panel):
    bl_label = "Camera & Lights"
    sections = PANELS["camera"].sections

    def draw(self, context):
        box = self.layout.box()
        for line in optics_lines(context.scene):
            box.label(text=line, icon="CAMERA_DATA" if line.startswith("Camera") else "BLANK1")
        self.draw_sections(context, self.sections)


def optics_lines(scene) -> list[str]:
    """The fitted (or placed) camera of the panel's spec; the spec's one-line error when it has one."""
    problem = properties.spec_problem(scene)
    if problem:
        return [problem]
    try:
        return optics_summary(properties.spec_from_scene(scene))
    except schema.ContractError as err:  # the part cannot be fitted as asked
        return [str(err)]


class PINSCOPE_PT_randomize(_SpecSubPanel, bpy.types.Panel):
    bl_label = "Randomisation"
    sections = PANELS["randomize"].sections


class PINSCOPE_PT_render(_SpecSubPanel, bpy.types.Panel):
    bl_label = "Render"
    sections = PANELS["render"].sections


def draw_progress(layout, session):
    layout.progress(factor=session.progress, type="BAR", text=session.progress_text or "Rendering")


class PINSCOPE_PT_dataset(_SpecSubPanel, bpy.types.Panel):
    bl_label = "Dataset"
    bl_options = set()
    sections = PANELS["dataset"].sections

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        session = _session(context)
        draw_record(layout.column(), context.scene.pinscope, schema.GenerationSpec)  # name, seed
        draw_record(layout.column(), context.scene.pinscope.dataset, schema.DatasetSpec)
        layout.prop(session, "output_dir")
        layout.prop(session, "workers")
        if render_ops.is_running():
            draw_progress(layout, session)
            layout.operator("pinscope.cancel_render", icon="CANCEL")
        else:
            layout.operator("pinscope.render_dataset", icon="RENDER_ANIMATION")
            if session.progress_text:
                layout.label(text=session.progress_text)
        layout.operator("pinscope.open_output", icon="FILE_FOLDER")


class PINSCOPE_PT_other(_SpecSubPanel, bpy.types.Panel):
    """Spec sections added after this panel layout was written (drawn generically)."""

    bl_label = "More settings"

    @classmethod
    def poll(cls, context):
        return bool(cls.extra_sections())

    @staticmethod
    def extra_sections():
        return panel_layout.unclaimed_sections(schema.GenerationSpec)

    def draw(self, context):
        self.draw_sections(context, self.extra_sections())


def draw_status_bar(self, context):
    """Progress of a running dataset render in the status bar (appended to STATUSBAR_HT_header)."""
    session = getattr(context.scene, "pinscope_session", None)
    if session is not None and render_ops.is_running():
        self.layout.progress(factor=session.progress, type="RING", text=f"PinScope {session.progress_text}")


classes = (
    PINSCOPE_UL_defect_classes,
    PINSCOPE_PT_main,
    PINSCOPE_PT_grid,
    PINSCOPE_PT_housing,
    PINSCOPE_PT_defects,
    PINSCOPE_PT_camera,
    PINSCOPE_PT_randomize,
    PINSCOPE_PT_render,
    PINSCOPE_PT_dataset,
    PINSCOPE_PT_other,
)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.STATUSBAR_HT_header.append(draw_status_bar)


def unregister():
    bpy.types.STATUSBAR_HT_header.remove(draw_status_bar)
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
