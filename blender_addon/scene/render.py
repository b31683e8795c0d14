"""Render settings and the three per-sample outputs: image, defect-free twin, exact instance mask.

Engine ids differ across Blender versions (EEVEE is BLENDER_EEVEE up to 4.1 and again from 5.0,
BLENDER_EEVEE_NEXT in 4.2-4.4); `configure_render` picks whichever this Blender knows. Colour management
is pinned to the Standard view so renders look the same on 3.4 (Filmic default) and 4.x/5.x (AgX).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time

import bpy

from ..core import mask as mask_core
from ..core import sensor
from ..core.camera import camera_pose
from ..core.housing import occludes_pins
from ..core.png import strip_text_chunks, write_png
from .pixels import load_pixels, require_complete_png, save_pixels

ENGINE_IDS = {
    "CYCLES": ("CYCLES",),
    "WORKBENCH": ("BLENDER_WORKBENCH",),
    "EEVEE": ("BLENDER_EEVEE", "BLENDER_EEVEE_NEXT"),
}


def render_threads() -> int:
    """Threads per Blender process: PINSCOPE_THREADS, else every core (workers set it to share cores)."""
    try:
        return (
            max(1, int(os.environ.get("PINSCOPE_THREADS", "0")))
            if os.environ.get("PINSCOPE_THREADS")
            else (os.cpu_count() or 1)
        )
    except ValueError:
        return os.cpu_count() or 1


def _set_engine(scene, engine: str) -> None:
    for identifier in ENGINE_IDS[engine]:
        try:
            scene.render.engine = identifier
            return
        except TypeError:
            continue
    raise RuntimeError(f"this Blender ({bpy.app.version_string}) has no {engine} engine")


def enable_gpu() -> bool:
    """Switch Cycles to the first GPU backend this machine has; False (render on the CPU) if none."""
    try:
        prefs = bpy.context.preferences.addons["cycles"].preferences
    except (KeyError, AttributeError):
        return False
    for backend in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
        try:
            prefs.compute_device_type = backend
        except TypeError:  # not built into this Blender
            continue
        prefs.get_devices()
        gpus = [d for d in prefs.devices if d.type == backend]
        if gpus:
            for device in prefs.devices:
                device.use = device.type == backend
            return True
    print("warning: spec.render.device is GPU but Cycles finds no GPU here; rendering on the CPU", file=sys.stderr)
    return False


def configure_render(scene, spec) -> None:
    r = spec.render
    settings = scene.render
    _set_engine(scene, r.engine)
    settings.resolution_x, settings.resolution_y, settings.resolution_percentage = r.width, r.height, 100
    settings.pixel_aspect_x = settings.pixel_aspect_y = 1.0
    settings.use_border = False
    settings.film_transparent = False
    settings.dither_intensity = 0.0  # no per-pixel noise on top of the render: twins match exactly off-defect
    settings.threads_mode, settings.threads = "FIXED", render_threads()
    image = settings.image_settings
    image.file_format, image.color_mode, image.color_depth, image.compression = "PNG", "RGB", "8", 15
    settings.use_file_extension = True
    # No metadata stamps (date, render time, host...) in the PNGs: same spec + seed -> identical files.
    for name in dir(settings):
        if name.startswith("use_stamp") and isinstance(getattr(settings, name, None), bool):
            try:
                setattr(settings, name, False)
            except (AttributeError, TypeError):
                pass
    view = scene.view_settings
    view.view_transform, view.look, view.exposure, view.gamma = "Standard", "None", 0.0, 1.0
    scene.display_settings.display_device = "sRGB"
    if r.engine == "CYCLES":
        cycles = scene.cycles
        cycles.device = r.device if r.device == "CPU" or enable_gpu() else "CPU"
        cycles.samples = r.samples
        cycles.use_denoising = r.denoise
        # Fixed sample count and seed: a sample and its twin differ only where the defect reaches.
        cycles.use_adaptive_sampling = False
        cycles.use_animated_seed = False
        cycles.seed = spec.seed % (2**31 - 1)
        if hasattr(cycles, "time_limit"):
            cycles.time_limit = 0.0
        # Light paths sized for this scene (opaque pins and housing, two lights): glossy pins still
        # reflect their neighbours, but no time goes to transmission, volumes or deep bounces. The light
        # tree (4.0+) only pays off with many lights.
        cycles.max_bounces, cycles.diffuse_bounces, cycles.glossy_bounces = 4, 2, 2
        cycles.transmission_bounces = cycles.volume_bounces = cycles.transparent_max_bounces = 0
        if hasattr(cycles, "use_light_tree"):
            cycles.use_light_tree = False
        # Keep the synced scene between renders: only the objects a sample changed are re-synced.
        settings.use_persistent_data = True
    elif r.engine == "WORKBENCH":
        shading = scene.display.shading
        shading.light, shading.color_type = "STUDIO", "MATERIAL"
        shading.show_shadows, shading.show_cavity, shading.show_specular_highlight = True, False, True
        scene.display.render_aa = "8"
    elif r.engine == "EEVEE":
        eevee = scene.eevee
        if hasattr(eevee, "taa_render_samples"):
            eevee.taa_render_samples = r.samples


@contextlib.contextmanager
def stdout_silenced():
    """Blender prints per-tile progress ("Fra:1 Mem:...", "Saved: ...") on stdout during a render; keep
    stdout for our own output (--progress-jsonl). Errors still reach stderr and raise in Python."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout (embedded): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def render_image(pin_scene, path, seed: int, stamp_free: bool = True) -> float:
    """Render the scene as it is now to `path` (PNG, via a temporary name). Returns render seconds.
    `stamp_free=False` keeps Cycles' text chunks: for a render only read back as pixels and deleted, where
    the in-place rewrite made ext4 flush the file at once and the delete then waited on the disk."""
    scene = pin_scene.scene
    if scene.render.engine == "CYCLES":
        scene.cycles.seed = seed % (2**31 - 1)  # Cycles takes a 32-bit int
    tmp = _temp(path)
    scene.render.filepath = str(tmp)
    with stdout_silenced():
        start = time.perf_counter()
        result = bpy.ops.render.render(write_still=True, scene=scene.name)
        seconds = time.perf_counter() - start
    if "FINISHED" not in result or not os.path.exists(tmp):
        raise RuntimeError(f"Blender did not render {path} ({sorted(result)})")
    require_complete_png(tmp, path)
    if stamp_free:
        strip_text_chunks(tmp)  # Cycles' render-time stamp: without it, same sample -> same bytes
    os.replace(tmp, path)
    return seconds


def render_twin(pin_scene, plan, path) -> float:
    """Render `plan`'s defect-free twin (same view, jitter and seed, no defect) to `path`."""
    from ..core.sampling import ok_plan_like
    from .apply import apply_plan

    apply_plan(pin_scene, ok_plan_like(plan))
    return render_image(pin_scene, path, plan.render_seed)


def clean_path(path):
    """Where the clean render of `path` is kept while sensor effects are added (hidden: not a dataset file)."""
    return path.with_name(f".clean-{path.name}")


def apply_sensor(src, dst, jitter: dict) -> None:
    """Write `src` as the shot's sensor records it (core.sensor) to `dst`, atomically."""
    save_pixels(sensor.apply(load_pixels(src), jitter), dst)


def copy_file(src, dst) -> None:
    tmp = _temp(dst)
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def mask_bit_depth(spec) -> int:
    return 8 if spec.grid.pin_count < 255 else 16


def camera_record(pose) -> dict:
    """The row fields that say which camera took the image (OpenCV convention, see the contract's SampleRow)."""
    return {"projection": pose.projection, "intrinsics": pose.intrinsics(), "world_to_camera": pose.world_to_camera()}


def geometry_outputs(spec, plan, mask_path=None) -> dict:
    """pin_boxes, defect_box, hidden_pins, the camera and (when mask_path is given) the instance mask PNG,
    all from geometry. Housings that can hide part of a pin take their boxes from the mask."""
    start = time.perf_counter()
    pose = camera_pose(spec, plan.view, plan.jitter)
    pixels = None
    if mask_path is not None or occludes_pins(spec):
        pixels = mask_core.rasterise(pose, mask_core.scene_solids(spec, plan))
    boxes = mask_core.pin_boxes(spec, pose, plan, pixels)
    per_pin = mask_core.defect_boxes(spec, pose, plan, boxes)
    out = {
        "pin_boxes": boxes,
        "defect_box": mask_core.defect_box(spec, pose, plan, boxes),
        "defect_boxes": per_pin,
        "hidden_pins": mask_core.hidden_pins(boxes),
        "camera": camera_record(pose),
    }
    if mask_path is not None:
        tmp = _temp(mask_path)
        write_png(tmp, pixels, mask_bit_depth(spec))
        os.replace(tmp, mask_path)
    out["seconds"] = time.perf_counter() - start
    return out


def _temp(path):
    from ..contract import schema

    return schema.temp_path_for(path)
