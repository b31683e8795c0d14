"""Add-on preferences: defaults for new specs and how dataset renders are launched."""

from __future__ import annotations

from dataclasses import fields

import bpy

from ..contract import schema

# The add-on's root package: "blender_addon" from the repo, "pinscope" as a legacy add-on,
# "bl_ext.<repo>.pinscope" as an extension. Preferences are keyed by it.
ADDON_PACKAGE = __package__.rpartition(".")[0]


def _render_choices(field_name: str):
    """Enum items from the spec's own RenderSpec field, so the preferences follow the contract."""
    meta = next(f.metadata for f in fields(schema.RenderSpec) if f.name == field_name)
    return tuple((c, c.capitalize() if len(c) > 3 else c, "") for c in meta["choices"])


class PINSCOPE_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    output_dir: bpy.props.StringProperty(
        name="Default output folder",
        subtype="DIR_PATH",
        default="//pinscope_datasets",
        description="Datasets go to <this folder>/<spec name> unless the panel names a folder ('//' = next to "
        "the .blend file)",
    )
    engine: bpy.props.EnumProperty(
        name="Default engine",
        items=_render_choices("engine"),
        default="CYCLES",
        description="Render engine written into new specs",
    )
    device: bpy.props.EnumProperty(
        name="Default device",
        items=_render_choices("device"),
        default="CPU",
        description="Cycles device written into new specs",
    )
    workers: bpy.props.IntProperty(
        name="Workers",
        default=1,
        min=1,
        max=64,
        description="Background render processes for Render Dataset (each takes one shard of the samples)",
    )
    blender_binary: bpy.props.StringProperty(
        name="Blender binary",
        subtype="FILE_PATH",
        default="",
        description="Blender executable for background workers (empty: the running Blender)",
    )

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "output_dir")
        layout.prop(self, "engine")
        layout.prop(self, "device")
        layout.prop(self, "workers")
        layout.prop(self, "blender_binary")


def get(context=None) -> PINSCOPE_AP_preferences | None:
    """The preferences, or None when the add-on is imported without being enabled (tests, scripts)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_PACKAGE)
    return addon.preferences if addon is not None else None


classes = (PINSCOPE_AP_preferences,)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
