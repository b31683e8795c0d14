"""How a shot looks: pin and housing materials, which lights are on and how bright, the world (bpy glue).

What to show comes from the shot's draws (`plan.jitter`, `plan.conditions`; pure rules in core.randomize
and core.lighting); this module only puts them into Blender. Nodes a randomised spec needs (a per-pin
brightness attribute, the housing's noise and scratch textures) are added once at build time, and only
when the spec draws them, so an unrandomised scene has exactly the seed's node trees.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core import randomize
from ..core.lighting import light_power, shot_locations


def _principled(material):
    return next(n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED")


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def add_pin_variation(material) -> None:
    """Base colour x the object's colour: each pin object can be a little brighter or darker."""
    tree = material.node_tree
    bsdf = _principled(material)
    attribute = tree.nodes.new("ShaderNodeAttribute")
    attribute.attribute_type, attribute.attribute_name = "OBJECT", "color"
    mix = tree.nodes.new("ShaderNodeMixRGB")
    mix.name, mix.blend_type = "PinScope pin colour", "MULTIPLY"
    mix.inputs["Fac"].default_value = 1.0
    tree.links.new(attribute.outputs["Color"], mix.inputs["Color2"])
    tree.links.new(mix.outputs["Color"], bsdf.inputs["Base Color"])


def _texture_image(name: str, red, green) -> object:
    """A bpy image from two (H, W) numpy arrays in 0..1 in its red and green channels (made in memory:
    nothing to download or ship)."""
    height, width = red.shape
    image = bpy.data.images.get(name) or bpy.data.images.new(name, width, height, alpha=False)
    rgba = np.ones((height, width, 4), np.float32)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = red[::-1], green[::-1], 0.0
    image.pixels.foreach_set(rgba.reshape(-1))
    image.use_fake_user = True  # kept for the scene's life; removed with the next build's PinScope data
    return image


def add_housing_texture(material, part_size: float) -> None:
    """Mottled moulding and fine scratches mixed into the housing's base colour. The textures are images
    made once (core.randomize.mottle / scratch_lines) and shifted per shot: image lookups cost Cycles far
    less than procedural noise evaluated at every shading point (measured 1.3x slower renders). Both sit
    in one image (mottle red, scratches green) looked up once per shading point: two lookups of grey
    images at the same point gave the same values at ~8 % more render time."""
    tree = material.node_tree
    bsdf = _principled(material)
    coords = tree.nodes.new("ShaderNodeTexCoord")
    mapping = tree.nodes.new("ShaderNodeMapping")
    mapping.name = "PinScope texture offset"
    mapping.inputs["Scale"].default_value = (1.0 / part_size,) * 3
    tree.links.new(coords.outputs["Object"], mapping.inputs["Vector"])
    texture = tree.nodes.new("ShaderNodeTexImage")
    texture.image = _texture_image(
        "PinScope housing textures", randomize.mottle(256, 8), randomize.scratch_lines(256, 40)
    )
    texture.extension = "REPEAT"
    tree.links.new(mapping.outputs["Vector"], texture.inputs["Vector"])
    channels = tree.nodes.new("ShaderNodeSeparateColor")
    tree.links.new(texture.outputs["Color"], channels.inputs[0])
    mottle = tree.nodes.new("ShaderNodeMixRGB")
    mottle.name, mottle.blend_type = "PinScope housing texture", "MULTIPLY"
    tree.links.new(channels.outputs[0], mottle.inputs["Color2"])
    scratch = tree.nodes.new("ShaderNodeMixRGB")
    scratch.name, scratch.blend_type = "PinScope housing scratches", "SCREEN"
    tree.links.new(mottle.outputs["Color"], scratch.inputs["Color1"])
    tree.links.new(channels.outputs[1], scratch.inputs["Color2"])
    tree.links.new(scratch.outputs["Color"], bsdf.inputs["Base Color"])


def _set_pins(pin_scene, plan) -> None:
    spec, jitter = pin_scene.spec, plan.jitter
    base, metallic, roughness = randomize.pin_material(spec, jitter, plan.conditions)
    colour = (
        _clamp(base[0] + jitter.get("color_r", 0.0)),
        _clamp(base[1] + jitter.get("color_g", 0.0)),
        _clamp(base[2] + jitter.get("color_b", 0.0)),
        1.0,
    )
    material = pin_scene.pin_material
    bsdf = _principled(material)
    mix = material.node_tree.nodes.get("PinScope pin colour")
    (mix.inputs["Color1"] if mix is not None else bsdf.inputs["Base Color"]).default_value = colour
    material.diffuse_color = colour
    if spec.randomize.active:
        bsdf.inputs["Metallic"].default_value, bsdf.inputs["Roughness"].default_value = metallic, roughness
        material.metallic, material.roughness = metallic, roughness
    if mix is not None:
        for obj, factor in zip(pin_scene.pins, randomize.pin_factors(spec, jitter), strict=True):
            obj.color = (factor, factor, factor, 1.0)


def _set_housing(pin_scene, plan) -> None:
    spec, jitter = pin_scene.spec, plan.jitter
    if not spec.randomize.active:
        return
    material = pin_scene.housing_material
    colour = (*randomize.housing_colour(spec, jitter), 1.0)
    nodes = material.node_tree.nodes
    mottle, scratch = nodes.get("PinScope housing texture"), nodes.get("PinScope housing scratches")
    (
        mottle.inputs["Color1"] if mottle is not None else _principled(material).inputs["Base Color"]
    ).default_value = colour
    material.diffuse_color = colour
    _principled(material).inputs["Roughness"].default_value = jitter.get("housing_roughness", 0.6)
    if mottle is not None:
        mottle.inputs["Fac"].default_value = jitter.get("housing_texture", 0.0)
        scratch.inputs["Fac"].default_value = jitter.get("scratches", 0.0) * 0.5
        seed = int(jitter["texture_seed"])
        offset = ((seed % 997) / 997.0, (seed % 991) / 991.0, (seed % 983) / 983.0)
        nodes["PinScope texture offset"].inputs["Location"].default_value = offset


def _set_power(obj, light, power: float, tint=None) -> None:
    if light.shape == "PANEL":  # a dark panel would still hide the world behind the part: shrink it away
        scale = (1.0, 1.0, 1.0) if power > 0 else (0.0, 0.0, 0.0)
        if tuple(obj.scale) != scale:
            obj.scale = scale
        emission = next(n for n in obj.active_material.node_tree.nodes if n.type == "EMISSION")
        emission.inputs["Strength"].default_value = power
        if tint is not None:
            emission.inputs["Color"].default_value = (*tint, 1.0)
        return
    obj.data.energy = power
    if tint is not None:
        obj.data.color = tint


def _set_lights(pin_scene, plan) -> None:
    spec, jitter = pin_scene.spec, plan.jitter
    preset = randomize.light_preset(spec, plan.conditions)
    tint = randomize.kelvin_rgb(jitter["color_temperature"]) if "color_temperature" in jitter else None
    lit = [(obj, light) for obj, light in pin_scene.lights if light.preset == preset]
    # The same places scene.region grows its margin for (core.lighting.shadow_growth).
    locations = shot_locations(spec, [light for _, light in lit], jitter)
    for obj, light in pin_scene.lights:  # the other presets' lights go dark (hiding them is not re-synced
        if light.preset != preset:  # by Cycles' persistent data: the next render kept them on)
            _set_power(obj, light, 0.0)
    for (obj, light), location in zip(lit, locations, strict=True):
        _set_power(obj, light, light_power(spec, light, jitter), tint)
        if "light_offset" in jitter:
            obj.location = location


def uniform_world(world) -> None:
    """A constant-colour world needs no importance map, and Cycles rebuilds that map (1024^2 evaluations)
    whenever the world changes: with a per-shot ambient level that was 14 % of every render."""
    world.cycles.sampling_method = "NONE"


def _set_world(pin_scene, plan) -> None:
    if "ambient" not in plan.jitter:
        return
    world = pin_scene.scene.world
    strength = plan.jitter["ambient"]
    background = next(n for n in world.node_tree.nodes if n.type == "BACKGROUND")
    background.inputs["Strength"].default_value = strength
    world.color = (strength,) * 3


def apply_look(pin_scene, plan) -> None:
    """Materials, lights and world for `plan`'s shot."""
    _set_pins(pin_scene, plan)
    _set_housing(pin_scene, plan)
    _set_lights(pin_scene, plan)
    _set_world(pin_scene, plan)
