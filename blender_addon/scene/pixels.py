"""Image files in and out of Blender as float arrays, and the check that a PNG Blender wrote is whole.

Used where PinScope composes images itself (region renders pasted over their twin, sensor effects on a
clean render). Blender's own PNG writer keeps the files exactly like a render's.
"""

from __future__ import annotations

import contextlib
import errno
import os

import bpy
import numpy as np

from ..contract import schema
from ..core.png import png_complete


def require_complete_png(tmp, path) -> None:
    """Raise OSError (and drop `tmp`) when Blender's PNG at `tmp` was cut short: Blender says FINISHED
    even when the disk filled up while it wrote, and a truncated image must never be renamed to `path`."""
    if not png_complete(tmp):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OSError(errno.EIO, "image written incompletely (disk full or file size limit?)", str(path))


def load_pixels(path):
    """An 8-bit PNG as a float array (H, W, 4), rows bottom-up as Blender stores them."""
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        width, height = image.size
        pixels = np.empty(width * height * 4, np.float32)
        image.pixels.foreach_get(pixels)
        return pixels.reshape(height, width, 4)
    finally:
        bpy.data.images.remove(image)


def save_pixels(pixels, path) -> None:
    """Write (H, W, 4) bottom-up float pixels as an 8-bit RGB PNG via a temporary name."""
    height, width = pixels.shape[:2]
    image = bpy.data.images.new("pinscope_region_composite", width, height, alpha=False)
    try:
        image.pixels.foreach_set(np.ascontiguousarray(pixels, dtype=np.float32).reshape(-1))
        tmp = schema.temp_path_for(path)
        image.filepath_raw = str(tmp)
        image.file_format = "PNG"
        try:
            image.save()
        except RuntimeError as err:  # Blender's "could not write": an OSError for the CLI's one-line report
            raise OSError(errno.EIO, f"image not written ({err})", str(path)) from None
        require_complete_png(tmp, path)
        os.replace(tmp, path)
    finally:
        bpy.data.images.remove(image)
