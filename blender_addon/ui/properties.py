"""Blender property groups generated from the generation spec, plus the panel's session state.

`Scene.pinscope` holds one GenerationSpec as properties (one PropertyGroup class per record class,
made at register time from ui/spec_props.py's plans); `Scene.pinscope_session` holds what is not
part of the spec (output folder, preview choice, progress of a running dataset render).
"""

from __future__ import annotations

import bpy

from ..contract import schema
from ..scene.build import set_millimetres
from . import spec_props

GROUP_PREFIX = "PINSCOPE_PG_"

# Filled by register(): spec record class -> its generated PropertyGroup class.
generated: dict[type, type] = {}


def group_name(cls) -> str:
    return GROUP_PREFIX + cls.__name__


def _make_group(cls) -> type:
    annotations = {}
    for plan in spec_props.plan_record(cls):
        options = dict(plan.options)
        if plan.child is not None:
            options["type"] = generated[plan.child]
        annotations[plan.name] = getattr(bpy.props, plan.factory)(**options)
    doc = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
    return type(group_name(cls), (bpy.types.PropertyGroup,), {"__annotations__": annotations, "__doc__": doc})


def _tag_redraw(_self, context):
    for area in getattr(context.screen, "areas", ()):
        area.tag_redraw()


class PINSCOPE_PG_session(bpy.types.PropertyGroup):
    """Panel state that is not part of the spec."""

    output_dir: bpy.props.StringProperty(
        name="Output folder",
        subtype="DIR_PATH",
        default="",
        description="Dataset folder (empty: the add-on preferences' default folder + the spec name)",
    )
    workers: bpy.props.IntProperty(
        name="Workers",
        default=0,
        min=0,
        max=64,
        description="Background render processes (0: the add-on preferences' worker count)",
    )
    preview_split: bpy.props.EnumProperty(
        name="Split",
        items=tuple((s, s.title(), f"Preview a sample of the {s} split") for s in schema.SPLITS),
        default="train",
    )
    preview_index: bpy.props.IntProperty(name="Sample", default=0, min=0, description="Sample index in the split")
    preview_label: bpy.props.StringProperty(name="Previewed", default="", description="The previewed sample")
    # Whether a render runs is the operator's state (render_ops.is_running), never a saved flag:
    # a .blend saved mid-render must not reopen showing a render that no longer exists.
    progress: bpy.props.FloatProperty(
        name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR", update=_tag_redraw
    )
    progress_text: bpy.props.StringProperty(name="Status", default="")
    # A new scene's properties already hold the spec defaults, except its lists (defect classes),
    # which start empty; those are filled once, on first use, keeping anything already edited.
    initialised: bpy.props.BoolProperty(name="Initialised", default=False)


def ensure_initialised(scene, engine: str | None = None, device: str | None = None) -> None:
    """Complete a new scene's spec: default lists, and the preferences' engine and device where the
    render section still holds the spec's defaults. Values the user already edited are kept."""
    if scene.pinscope_session.initialised:
        return
    spec_props.fill_empty_lists(scene.pinscope, schema.GenerationSpec)
    _apply_render_preferences(scene, engine, device, only_if_default=True)
    set_millimetres(scene)  # spec lengths are mm: the panel shows them as mm
    scene.pinscope_session.initialised = True


def reset_to_defaults(scene, engine: str | None = None, device: str | None = None) -> None:
    """The default spec, with the preferences' engine and device."""
    spec_to_scene(schema.GenerationSpec(), scene)
    _apply_render_preferences(scene, engine, device, only_if_default=False)


def _apply_render_preferences(scene, engine, device, only_if_default: bool) -> None:
    render, defaults = scene.pinscope.render, schema.RenderSpec()
    for name, preferred in (("engine", engine), ("device", device)):
        if preferred and (not only_if_default or getattr(render, name) == getattr(defaults, name)):
            setattr(render, name, preferred)


def spec_from_scene(scene) -> schema.GenerationSpec:
    """The scene's spec, validated. Raises schema.ContractError (one line, naming the field)."""
    ensure_initialised(scene)
    return spec_props.props_to_record(scene.pinscope, schema.GenerationSpec)


def spec_problem(scene) -> str:
    """The contract's one-line complaint about the scene's spec, or "" (read-only: safe in draw())."""
    if not scene.pinscope_session.initialised:
        return ""  # the defaults, until first use fills the lists
    try:
        spec_props.props_to_record(scene.pinscope, schema.GenerationSpec)
    except schema.ContractError as err:
        return str(err)
    return ""


def spec_to_scene(spec: schema.GenerationSpec, scene) -> None:
    spec_props.record_to_props(spec, scene.pinscope)
    set_millimetres(scene)
    scene.pinscope_session.initialised = True


def classes() -> list[type]:
    return [*generated.values(), PINSCOPE_PG_session]


def register():
    generated.clear()
    for cls in spec_props.record_classes(schema.GenerationSpec):
        generated[cls] = _make_group(cls)
        bpy.utils.register_class(generated[cls])
    bpy.utils.register_class(PINSCOPE_PG_session)
    bpy.types.Scene.pinscope = bpy.props.PointerProperty(type=generated[schema.GenerationSpec], name="PinScope spec")
    bpy.types.Scene.pinscope_session = bpy.props.PointerProperty(type=PINSCOPE_PG_session, name="PinScope")


def unregister():
    del bpy.types.Scene.pinscope_session
    del bpy.types.Scene.pinscope
    for cls in reversed(classes()):
        bpy.utils.unregister_class(cls)
    generated.clear()
