"""Blender's own object-index pass, read back for tests: Cycles renders IndexOB (each object's pass_index;
pins carry index + 1, the housing 0) into an uncompressed multilayer EXR, and a small reader here pulls
that channel out (no EXR library needed). One sample per pixel with a 0.01 px filter: the pass then
shows what the ray through each pixel centre hits -- the same rays the mask casts.
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import bpy
import numpy as np

from blender_addon.scene.render import stdout_silenced

PIXEL_BYTES = {0: 4, 1: 2, 2: 4}  # EXR pixel types: uint, half, float
PIXEL_DTYPE = {0: "<u4", 1: "<f2", 2: "<f4"}


def _read_header(data: bytes):
    if data[:4] != b"\x76\x2f\x31\x01":
        raise ValueError("not an OpenEXR file")
    pos, attrs = 8, {}
    while data[pos] != 0:
        name_end = data.index(b"\0", pos)
        type_end = data.index(b"\0", name_end + 1)
        name = data[pos:name_end].decode()
        size = struct.unpack_from("<i", data, type_end + 1)[0]
        value_at = type_end + 5
        attrs[name] = data[value_at : value_at + size]
        pos = value_at + size
    return attrs, pos + 1


def _channels(raw: bytes) -> list:
    out, pos = [], 0
    while raw[pos] != 0:
        end = raw.index(b"\0", pos)
        name = raw[pos:end].decode()
        pixel_type = struct.unpack_from("<i", raw, end + 1)[0]
        out.append((name, pixel_type))
        pos = end + 1 + 16
    return out


def read_exr_channel(path, suffix: str) -> np.ndarray:
    """The channel whose name ends with `suffix` (e.g. 'IndexOB.X') of an uncompressed scanline EXR, (H, W)."""
    data = Path(path).read_bytes()
    attrs, pos = _read_header(data)
    if attrs["compression"][0] != 0:
        raise ValueError("EXR is compressed; write it with codec NONE")
    x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"])
    width, height = x1 - x0 + 1, y1 - y0 + 1
    channels = _channels(attrs["channels"])
    wanted = next(i for i, (name, _t) in enumerate(channels) if name.endswith(suffix))
    offsets = struct.unpack_from(f"<{height}Q", data, pos)
    out = np.zeros((height, width), np.float64)
    for offset in offsets:
        y, _size = struct.unpack_from("<ii", data, offset)
        at = offset + 8
        for i, (_name, pixel_type) in enumerate(channels):
            nbytes = PIXEL_BYTES[pixel_type] * width
            if i == wanted:
                out[y - y0] = np.frombuffer(data, PIXEL_DTYPE[pixel_type], width, at)
            at += nbytes
    return out


def _route_index_to_output(scene):
    """Blender 5.0: the compositor (a node group) sends the Render Layers' object index to the output image.
    Returns a function that puts the scene's compositing back as it was."""
    saved = scene.compositing_node_group
    tree = bpy.data.node_groups.new("pinscope-index-pass", "CompositorNodeTree")
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    scene.compositing_node_group = tree
    output = tree.nodes.new("NodeGroupOutput")
    layers = tree.nodes.new("CompositorNodeRLayers")
    layers.scene = scene
    tree.links.new(layers.outputs["Object Index" if "Object Index" in layers.outputs else "IndexOB"], output.inputs[0])

    def restore():
        scene.compositing_node_group = saved
        bpy.data.node_groups.remove(tree)

    return restore


def _index_image(scene, image):
    """Set the output up to carry the object index: (channel suffix, undo). Blender 4.x writes every pass into
    a multilayer EXR (its compositor route renders for a minute and comes back empty under the bpy module);
    5.0 has no multilayer file format for a still and routes the pass through the compositor instead."""
    image.exr_codec = "NONE"
    if hasattr(scene, "compositing_node_group"):  # Blender 5.0
        image.file_format, image.color_mode, image.color_depth = "OPEN_EXR", "RGB", "32"
        return "R", _route_index_to_output(scene)
    image.file_format, image.color_depth = "OPEN_EXR_MULTILAYER", "32"  # Blender 4.x
    return "IndexOB.X", lambda: None


def object_index_pass(scene) -> np.ndarray:
    """Render `scene` as it stands with Cycles and return its object-index pass, rows top-down (H, W) ints."""
    render, cycles = scene.render, scene.cycles
    image = render.image_settings
    saved = (render.engine, cycles.samples, cycles.filter_width, render.filepath, render.use_persistent_data)
    saved_image = (image.file_format, image.color_mode, image.color_depth)
    layer = scene.view_layers[0]
    layer.use_pass_object_index = True
    render.engine, render.use_persistent_data = "CYCLES", False  # passes change: sync the scene anew
    cycles.samples, cycles.filter_width = 1, 0.01
    suffix, restore = _index_image(scene, image)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            render.filepath = str(Path(tmp) / "index.exr")
            with stdout_silenced():
                bpy.ops.render.render(write_still=True, scene=scene.name)
            index = read_exr_channel(Path(tmp) / "index.exr", suffix)
    finally:
        restore()
        render.engine, cycles.samples, cycles.filter_width, render.filepath, render.use_persistent_data = saved
        image.file_format, image.color_mode, image.color_depth = saved_image
        layer.use_pass_object_index = False
    return np.rint(index).astype(np.int64)  # EXR scanlines run top row first, like the mask
