"""Render operators: one-sample preview, the whole dataset in background workers, output folder.

Both go through the render pipeline (dataset/pipeline.py). Render Preview renders the chosen sample
exactly as a dataset would -- `render(..., Inline(pin_scene), select=[sample])` into a temporary
folder, on the scene already built in the viewport -- and shows its image and twin. Render Dataset
never renders in Blender's own process: ui/jobs.py starts the add-on's CLI (the pipeline `make render`
runs) in a background process, and a timer (`bpy.app.timers`, not a modal operator: nothing is left
in the window's handler list when the add-on is disabled mid-render) copies its progress into
`Scene.pinscope_session` for the panel and the status bar. Cancel stops the render; the dataset writer
keeps every finished sample, so running again resumes.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import bpy

from ..contract import schema
from ..core.sampling import plan_sample
from ..dataset.executors import Inline
from ..dataset.pipeline import render
from ..scene.apply import apply_plan
from . import jobs, prefs
from .viewport import describe_plan, ensure_spec, pin_scene_for, spec_or_report

ADDON_DIR = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = "//pinscope_datasets"
TIMER_STEP_S = 0.25
PREVIEW_IMAGES = ("PinScope Preview", "PinScope Twin")

# The one dataset render that may run at a time (a module global so Cancel and unregister reach it).
_running: dict = {"job": None, "cancel": False}


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
        with tempfile.TemporaryDirectory(prefix="pinscope-preview-") as tmp:
            row = render_preview_sample(spec, plan, pin_scene, Path(tmp))
            folder = Path(tmp) / plan.split
            images = [_load_image(name, folder / rel) for name, rel in zip(PREVIEW_IMAGES, row, strict=True)]
        apply_plan(pin_scene, plan)  # leave the viewport showing the sample
        for scene in {context.scene, pin_scene.scene}:
            scene.pinscope_session.preview_label = describe_plan(plan)
        _show_image(context, images[0])
        self.report({"INFO"}, f"Rendered {describe_plan(plan)} and its twin into {', '.join(PREVIEW_IMAGES)}")
        return {"FINISHED"}


def render_preview_sample(spec, plan, pin_scene, folder: Path) -> tuple[str, str]:
    """Render one sample as the dataset renders it (twin always, no mask) into `folder`; (image, twin) paths
    relative to its split folder."""
    data = spec.to_dict()
    data["dataset"].update(twin=True, mask=False)
    preview_spec = schema.GenerationSpec.from_dict(data)
    render(preview_spec, folder, Inline(pin_scene), select=[(plan.split, plan.index)], quiet=True)
    row = schema.read_rows(folder / plan.split / schema.METADATA)[0]
    return row.file_name, row.twin_file


# --- dataset -------------------------------------------------------------------------------------


def _update_session(session, status: jobs.JobStatus):
    session.progress = status.fraction
    session.progress_text = status.text()


def _finish(context, status: jobs.JobStatus) -> tuple[set, str, str]:
    """Forget the finished job: (operator result, report level, message)."""
    job = _running["job"]
    _running.update(job=None, cancel=False)
    if bpy.app.timers.is_registered(on_timer):
        bpy.app.timers.unregister(on_timer)
    session = context.scene.pinscope_session
    _update_session(session, status)
    job.close()
    if status.errors:
        session.progress_text = f"{status.text()}: {status.errors[0]}"
        return {"CANCELLED"}, "ERROR", status.errors[0]
    if status.cancelled:
        return {"CANCELLED"}, "WARNING", f"Stopped at {status.text()}; Render Dataset again to resume"
    return {"FINISHED"}, "INFO", f"Dataset written to {job.out_dir} ({status.text()})"


def tick(context, stop: bool = False) -> tuple[set, str, str]:
    """One timer step of the running render: (operator result, report level, message).

    The result is {'PASS_THROUGH'} (and no message) while the render goes on. `stop` or the Cancel
    button's flag interrupts it; the finished samples stay and a rerun resumes.
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


def on_timer():
    """bpy.app.timers callback: one tick; the seconds to the next one, or None when the render ended."""
    result, level, message = tick(bpy.context)
    if result == {"PASS_THROUGH"}:
        return TIMER_STEP_S
    if message:  # the panel shows the outcome; the console keeps the whole line
        print(f"PinScope {level.lower()}: {message}", file=sys.stderr if level == "ERROR" else sys.stdout)
    return None


class PINSCOPE_OT_render_dataset(bpy.types.Operator):
    """Render the whole dataset in background processes (Cancel stops; a rerun resumes)"""

    bl_idname = "pinscope.render_dataset"
    bl_label = "Render Dataset"

    blocking: bpy.props.BoolProperty(
        name="Wait",
        default=False,
        options={"HIDDEN", "SKIP_SAVE"},
        description="Wait for the render to end instead of following it with a timer (scripts and tests)",
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
        try:
            job = jobs.DatasetJob(json.dumps(spec.to_dict(), indent=2), out, ADDON_DIR, binary, workers)
        except OSError as err:
            self.report({"ERROR"}, f"Cannot start a background render in {out}: {err}")
            return {"CANCELLED"}
        session = context.scene.pinscope_session
        session.progress, session.progress_text = 0.0, "starting"
        _running.update(job=job, cancel=False)
        if self.blocking or context.window is None:
            result, level, message = _finish(context, job.wait(on_progress=lambda s: _update_session(session, s)))
            if message:
                self.report({level}, message)
            return result
        bpy.app.timers.register(on_timer, first_interval=TIMER_STEP_S)
        self.report({"INFO"}, f"Rendering {spec.name} into {out} in the background")
        return {"FINISHED"}


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
        _running["cancel"] = True  # the timer stops the render on its next tick
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
    job = _running["job"]
    if bpy.app.timers.is_registered(on_timer):
        bpy.app.timers.unregister(on_timer)
    if job is not None:
        job.cancel()
        job.close()
    _running.update(job=None, cancel=False)
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
