"""Render operators: one-sample preview, the whole dataset in background workers, output folder.

Render Dataset never renders in Blender's own process: ui/jobs.py starts the add-on's CLI in
background processes (the same code `make render` runs), and a modal timer copies their progress
into `Scene.pinscope_session` for the panel and the status bar. Esc or Cancel stops the workers;
the dataset writer keeps every finished sample, so running again resumes.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import bpy

from ..contract import schema
from . import jobs, prefs
from .operators import describe_plan, ensure_spec, pin_scene_for, spec_or_report

ADDON_DIR = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = "//pinscope_datasets"
TIMER_STEP_S = 0.25
PREVIEW_IMAGES = ("PinScope Preview", "PinScope Twin")
CYCLES_SEED_LIMIT = 2**31 - 1  # Cycles' seed is a 32-bit int; plan seeds are wider

# The one dataset render that may run at a time (a module global so Cancel and unregister reach it).
_running: dict = {"job": None, "timer": None, "wm": None, "cancel": False}


def is_running() -> bool:
    return _running["job"] is not None


def output_dir(context, spec) -> tuple[Path | None, str]:
    """Where this spec's dataset goes, or (None, why not)."""
    session = context.scene.pinscope_session
    preferences = prefs.get(context)
    raw = session.output_dir
    if not raw:
        base = (preferences.output_dir if preferences else "") or DEFAULT_OUTPUT
        raw = str(Path(base) / spec.name) if not base.startswith("//") else base.rstrip("/") + "/" + spec.name
    if raw.startswith("//") and not bpy.data.filepath:
        return None, f"Output folder {raw} is relative to the .blend file: save the file or choose a folder"
    return Path(bpy.path.abspath(raw)), ""


def worker_settings(context) -> tuple[str, int]:
    """Blender binary and worker count, from the panel and the preferences."""
    preferences = prefs.get(context)
    binary = (preferences.blender_binary if preferences else "") or bpy.app.binary_path
    workers = context.scene.pinscope_session.workers or (preferences.workers if preferences else 1)
    return bpy.path.abspath(binary) if binary else "", max(1, workers)


# --- preview -------------------------------------------------------------------------------------


def _show_image(context, image):
    for area in getattr(context.screen, "areas", ()):
        if area.type == "IMAGE_EDITOR":
            area.spaces.active.image = image
            return


def _load_image(name: str, path: Path):
    old = bpy.data.images.get(name)
    if old is not None:
        bpy.data.images.remove(old)
    image = bpy.data.images.load(str(path))
    image.name = name
    image.pack()  # the temporary file goes away; the preview stays with the .blend
    return image


class PINSCOPE_OT_render_preview(bpy.types.Operator):
    """Render the chosen sample and its defect-free twin into Blender images"""

    bl_idname = "pinscope.render_preview"
    bl_label = "Render Preview"

    @classmethod
    def poll(cls, context):
        if _running["job"] is not None:
            cls.poll_message_set("A dataset render is running; wait for it or cancel it")
            return False
        return True

    def execute(self, context):
        from ..core.sampling import ok_plan_like, plan_sample
        from ..scene.apply import apply_plan
        from ..scene.render import render_image

        ensure_spec(context)
        spec = spec_or_report(self, context)
        if spec is None:
            return {"CANCELLED"}
        session = context.scene.pinscope_session
        plan = plan_sample(spec, session.preview_split, session.preview_index)
        pin_scene = pin_scene_for(context, spec)
        images = []
        with tempfile.TemporaryDirectory(prefix="pinscope-preview-") as tmp:
            # The twin is the same shot (camera, lights, colour) with every pin in place.
            for name, shot in zip(PREVIEW_IMAGES, (plan, ok_plan_like(plan)), strict=True):
                path = Path(tmp) / f"{name.split()[-1].lower()}.png"
                apply_plan(pin_scene, shot)
                render_image(pin_scene, path, shot.seed % CYCLES_SEED_LIMIT)
                images.append(_load_image(name, path))
        apply_plan(pin_scene, plan)  # leave the viewport showing the sample
        for scene in {context.scene, pin_scene.scene}:
            scene.pinscope_session.preview_label = describe_plan(plan)
        _show_image(context, images[0])
        self.report({"INFO"}, f"Rendered {describe_plan(plan)} and its twin into {', '.join(PREVIEW_IMAGES)}")
        return {"FINISHED"}


# --- dataset -------------------------------------------------------------------------------------


def _update_session(session, status: jobs.JobStatus):
    session.progress = status.fraction
    session.progress_text = status.text()


def _finish(context, status: jobs.JobStatus) -> tuple[set, str, str]:
    """Forget the finished job: (operator result, report level, message)."""
    job, wm, timer = _running["job"], _running["wm"], _running["timer"]
    if timer is not None:
        wm.event_timer_remove(timer)
    _running.update(job=None, timer=None, wm=None, cancel=False)
    _update_session(context.scene.pinscope_session, status)
    job.close()
    if status.errors:
        return {"CANCELLED"}, "ERROR", status.errors[0]
    if status.cancelled:
        return {"CANCELLED"}, "WARNING", f"Stopped at {status.text()}; Render Dataset again to resume"
    return {"FINISHED"}, "INFO", f"Dataset written to {job.out_dir} ({status.text()})"


def tick(context, stop: bool = False) -> tuple[set, str, str]:
    """One timer step of the running render: (operator result, report level, message).

    The result is {'PASS_THROUGH'} (and no message) while the render goes on. `stop` (Esc) or the
    Cancel button's flag interrupts it; the finished samples stay and a rerun resumes.
    """
    job = _running["job"]
    if job is None:  # the add-on was disabled while rendering
        return {"CANCELLED"}, "", ""
    if stop or _running["cancel"]:
        job.cancel()
        return _finish(context, job.poll())
    status = job.poll()
    _update_session(context.scene.pinscope_session, status)
    if status.finished:
        return _finish(context, status)
    return {"PASS_THROUGH"}, "", ""


class PINSCOPE_OT_render_dataset(bpy.types.Operator):
    """Render the whole dataset in background processes (Esc cancels; a rerun resumes)"""

    bl_idname = "pinscope.render_dataset"
    bl_label = "Render Dataset"

    blocking: bpy.props.BoolProperty(
        name="Wait",
        default=False,
        options={"HIDDEN", "SKIP_SAVE"},
        description="Wait for the workers instead of running modally (scripts and tests)",
    )

    @classmethod
    def poll(cls, context):
        if _running["job"] is not None:
            cls.poll_message_set("A dataset render is already running")
            return False
        return True

    def execute(self, context):
        ensure_spec(context)
        spec = spec_or_report(self, context)
        if spec is None:
            return {"CANCELLED"}
        out, why = output_dir(context, spec)
        if out is None:
            self.report({"ERROR"}, why)
            return {"CANCELLED"}
        binary, workers = worker_settings(context)
        if binary and not Path(binary).is_file():
            self.report({"ERROR"}, f"Blender binary {binary} (add-on preferences) does not exist")
            return {"CANCELLED"}
        spec_json = json.dumps(spec.to_dict(), indent=2)
        try:
            job = jobs.DatasetJob(spec_json, out, ADDON_DIR, binary, workers)
        except OSError as err:
            self.report({"ERROR"}, f"Cannot start a background render in {out}: {err}")
            return {"CANCELLED"}
        session = context.scene.pinscope_session
        session.progress, session.progress_text = 0.0, "starting"
        _running.update(job=job, cancel=False)
        if self.blocking or context.window is None:
            status = job.wait(on_progress=lambda s: _update_session(session, s))
            return self._reported(*_finish(context, status))
        wm = context.window_manager
        _running.update(wm=wm, timer=wm.event_timer_add(TIMER_STEP_S, window=context.window))
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type not in ("TIMER", "ESC") and not _running["cancel"]:
            return {"PASS_THROUGH"}
        return self._reported(*tick(context, stop=event.type == "ESC"))

    def _reported(self, result: set, level: str, message: str) -> set:
        if message:
            self.report({level}, message)
        return result


class PINSCOPE_OT_cancel_render(bpy.types.Operator):
    """Stop the running dataset render (finished samples are kept; rerun to resume)"""

    bl_idname = "pinscope.cancel_render"
    bl_label = "Cancel Render"

    @classmethod
    def poll(cls, context):
        if _running["job"] is None:
            cls.poll_message_set("No dataset render is running")
            return False
        return True

    def execute(self, context):
        _running["cancel"] = True  # the modal operator stops the workers on its next tick
        return {"FINISHED"}


class PINSCOPE_OT_open_output(bpy.types.Operator):
    """Open the dataset folder in the system file browser"""

    bl_idname = "pinscope.open_output"
    bl_label = "Open Output Folder"

    @classmethod
    def poll(cls, context):
        try:
            spec = schema.GenerationSpec.from_dict({"name": context.scene.pinscope.name})
        except schema.ContractError:
            cls.poll_message_set("The spec name is not valid")
            return False
        out, why = output_dir(context, spec)
        if out is None or not out.is_dir():
            cls.poll_message_set(why or f"{out} does not exist yet: render the dataset first")
            return False
        return True

    def execute(self, context):
        out, _ = output_dir(context, schema.GenerationSpec.from_dict({"name": context.scene.pinscope.name}))
        bpy.ops.wm.path_open(filepath=str(out))
        return {"FINISHED"}


classes = (PINSCOPE_OT_render_preview, PINSCOPE_OT_render_dataset, PINSCOPE_OT_cancel_render, PINSCOPE_OT_open_output)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    job, wm, timer = _running["job"], _running["wm"], _running["timer"]
    if job is not None:
        job.cancel()
        job.close()
    if timer is not None:
        wm.event_timer_remove(timer)
    _running.update(job=None, timer=None, wm=None, cancel=False)
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
