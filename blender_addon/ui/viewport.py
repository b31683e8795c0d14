"""The panel's spec and the viewport scene built from it, shared by the spec and render operators.

The last built PinScene is remembered with the fingerprint of the spec it was built from; undo,
deleting its objects or editing the spec invalidate it (checked by `pin_scene_for`), and the next
preview or defect preview rebuilds it.
"""

from __future__ import annotations

from ..contract import schema
from ..scene.build import build_scene
from . import prefs, properties


def spec_or_report(operator, context):
    """The scene's validated spec, or None after reporting the contract's one-line error."""
    try:
        return properties.spec_from_scene(context.scene)
    except schema.ContractError as err:
        operator.report({"ERROR"}, str(err))
        return None


def ensure_spec(context):
    preferences = prefs.get(context)
    engine = preferences.engine if preferences else None
    device = preferences.device if preferences else None
    properties.ensure_initialised(context.scene, engine, device)


# The last built PinScene and the spec fingerprint it was built from. Undo or deleting the objects
# invalidates it (checked by pin_scene_for), and so does editing the spec: previews then rebuild.
_built: dict = {"fingerprint": None, "pin_scene": None}


def _alive(pin_scene) -> bool:
    try:
        return all(obj.name is not None for obj in pin_scene.pins)
    except ReferenceError:
        return False


SESSION_CARRIED = ("output_dir", "workers", "preview_split", "preview_index")


def build_pin_scene(context, spec):
    """Build into the renderer's dedicated "PinScope" scene (the user's objects stay out of renders)
    and show it: the window switches to it, with the spec and panel settings copied along."""
    source = context.scene
    pin_scene = build_scene(spec)
    target = pin_scene.scene
    if target != source:
        properties.spec_to_scene(spec, target)
        for name in SESSION_CARRIED:
            setattr(target.pinscope_session, name, getattr(source.pinscope_session, name))
        if context.window is not None:
            context.window.scene = target
    _built.update(fingerprint=spec.fingerprint(), pin_scene=pin_scene)
    return pin_scene


def pin_scene_for(context, spec):
    """The built scene for this spec, building it first if there is none (or it is stale)."""
    pin_scene = _built["pin_scene"]
    if pin_scene is None or _built["fingerprint"] != spec.fingerprint() or not _alive(pin_scene):
        pin_scene = build_pin_scene(context, spec)
    return pin_scene


def forget_pin_scene():
    _built.update(fingerprint=None, pin_scene=None)


def describe_plan(plan) -> str:
    """What the panel shows for a previewed sample, e.g. 'retract 31D05 (centre)'."""
    return f"{plan.label} {plan.qeu_code} ({plan.view})"


def built_pin_scene():
    """The last built scene while its objects still exist, else None."""
    pin_scene = _built["pin_scene"]
    return pin_scene if pin_scene is not None and _alive(pin_scene) else None
