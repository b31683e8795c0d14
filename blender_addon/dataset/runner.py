"""The in-process render loop: samples -> one dataset folder, through the contract's DatasetWriter only.

What to render is the pipeline's decision (dataset/pipeline.py); this module renders a list of
samples into one folder. Files are written under temporary names and renamed, and a sample's row is
appended last, so an interrupted run (Ctrl+C, SIGKILL, power loss) continues where it stopped when
started again with the same spec and folder.

The scene is built once; `render_one(pin_scene, plan, paths)` is all the per-sample work (apply the
plan, render the image, the defect-free twin and the exact mask) so a worker process can call it for
any sample in any order.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import bpy

from ..contract import schema
from ..core.layout import pin_index
from ..core.sampling import plan_reference, plan_sample, shot_index
from ..core.sensor import apply as sensor_apply
from ..core.sensor import wanted as sensor_wanted
from ..scene.apply import apply_plan
from ..scene.build import build_scene
from ..scene.region import region_for, render_region
from ..scene.render import (
    apply_sensor,
    clean_path,
    copy_file,
    geometry_outputs,
    render_image,
    render_threads,
    render_twin,
)

REFERENCE = schema.REFERENCE
SPLITS = schema.SPLITS


def sample_paths(root: Path, part: str, index: int, twin: bool, mask: bool, twin_index: int | None = None) -> dict:
    """Absolute output paths of one sample, plus their names relative to the part folder.

    `twin_index` names the twin file: the first sample of the twin group (`dataset.twin_share`), so the
    samples of a group point at one shared twin.
    """
    stem = f"{index:06d}.png"
    twin_stem = f"{index if twin_index is None else twin_index:06d}.png"
    rel = {
        "image": f"images/{stem}",
        "twin": f"twins/{twin_stem}" if twin else "",
        "mask": f"masks/{stem}" if mask else "",
    }
    paths = {key: (root / part / value if value else None) for key, value in rel.items()}
    for path in paths.values():
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    return {"abs": paths, "rel": rel}


def render_one(pin_scene, plan, paths: dict) -> dict:
    """Render one planned sample to `paths` ({image, twin, mask}: Path or None). Returns geometry + timings.

    The twin is the shot without the defect (same view, jitter and Cycles seed). It is rendered when its
    file does not exist yet, and reused when it does: the samples of a twin group share it, and a resumed
    run keeps the one an interrupted run finished (files only ever appear complete). An OK sample's image
    *is* its twin, so it is copied. A defective image is a full render, or -- with `render.region` -- a
    render of its defect region pasted over the twin (`scene.region` decides when that is exact enough).
    """
    start = time.perf_counter()
    spec = pin_scene.spec
    geometry = geometry_outputs(spec, plan, paths.get("mask"))
    image, twin = paths["image"], paths.get("twin")
    # With sensor effects the renders stay clean (a region is pasted over the clean twin) and the sensor's
    # noise, blur... go on as each file is written: a hidden clean twin is kept for the rest of its group.
    effects = sensor_wanted(plan.jitter)
    clean_twin = clean_path(twin) if effects and twin is not None else twin
    render_s, box = [], None
    if twin is not None and (not twin.exists() or not clean_twin.exists()):
        render_s.append(render_twin(pin_scene, plan, clean_twin))
        if effects:
            apply_sensor(clean_twin, twin, plan.jitter)
    if twin is not None and not plan.is_defective:
        copy_file(twin, image)
    else:
        apply_plan(pin_scene, plan)
        if twin is not None and spec.render.region and plan.is_defective:
            box = region_for(spec, plan, geometry["defect_box"])
        render_s.append(_render_sample(pin_scene, plan, image, box, clean_twin, effects))
    return {
        "pin_boxes": geometry["pin_boxes"],
        "defect_box": geometry["defect_box"],
        "defect_boxes": geometry["defect_boxes"],
        "hidden_pins": geometry["hidden_pins"],
        "camera": geometry["camera"],
        "render_s": render_s,
        "mask_s": geometry["seconds"],
        "wall_s": time.perf_counter() - start,
        "region": box is not None,
    }


def _render_sample(pin_scene, plan, image, box, clean_twin, effects: bool) -> float:
    """Render the (applied) sample to `image`, as a region over the clean twin when `box` is given, with the
    shot's sensor effects when `effects`. Returns the render call's seconds."""
    if box is not None:
        # The composite goes through the sensor in memory: writing it, reading it back and deleting it again
        # gave the same pixels (8-bit values either way) for three file operations more per sample.
        finish = (lambda pixels: sensor_apply(pixels, plan.jitter)) if effects else None
        return render_region(pin_scene, image, plan.render_seed, box, clean_twin, finish)
    target = clean_path(image) if effects else image
    seconds = render_image(pin_scene, target, plan.render_seed)
    if effects:
        apply_sensor(target, image, plan.jitter)
        target.unlink()
    return seconds


def _hashes(paths: dict) -> dict:
    roles = {"image": "image", "twin": "twin", "mask": "mask"}
    return {role: schema.file_digest(paths[key]) for key, role in roles.items() if paths.get(key) is not None}


def pin_records(spec, plan, boxes: list) -> list:
    """One contract PinRecord per defective pin: what was done to it, its box, its tolerance verdict."""
    records = []
    for i, defect in enumerate(plan.pins):
        ng, margin = plan.pin_ok[i]
        records.append(
            schema.PinRecord(
                pin=list(defect.pin),
                pin_index=pin_index(spec, *defect.pin),
                mode=defect.mode,
                shape=defect.shape,
                magnitude=defect.magnitude,
                qeu_code=defect.qeu_code,
                box=boxes[i],
                ng=ng,
                tolerance_margin=margin,
                **defect.amounts(),
            )
        )
    return records


def sample_row(spec, plan, rel: dict, result: dict, hashes: dict):
    return schema.SampleRow(
        file_name=rel["image"],
        label=plan.label,
        pin=None if plan.pin is None else list(plan.pin),
        pin_index=plan.pin_index,
        qeu_code=plan.qeu_code,
        mode=plan.mode,
        shape=plan.shape,
        dx=plan.dx,
        dy=plan.dy,
        dz=plan.dz,
        tilt_x=plan.tilt_x,
        tilt_y=plan.tilt_y,
        twist=plan.twist,
        bend=plan.bend,
        bend_dir=plan.bend_dir,
        tip=plan.tip,
        defects=pin_records(spec, plan, result["defect_boxes"]),
        ng=plan.ng,
        tolerance_margin=plan.tolerance_margin,
        view=plan.view,
        part=plan.part,
        split=plan.split,
        index=plan.index,
        seed=plan.seed,
        jitter=dict(plan.jitter),
        conditions=dict(plan.conditions),
        line=plan.line,
        twin_file=rel["twin"],
        mask_file=rel["mask"],
        pin_boxes=result["pin_boxes"],
        defect_box=result["defect_box"],
        sha256=hashes,
        hidden_pins=result["hidden_pins"],
        **result["camera"],
    )


def reference_row(plan, rel: dict, result: dict, hashes: dict):
    return schema.ReferenceRow(
        file_name=rel["image"],
        view=plan.view,
        index=plan.index,
        seed=plan.seed,
        jitter=dict(plan.jitter),
        conditions=dict(plan.conditions),
        line=plan.line,
        mask_file=rel["mask"],
        pin_boxes=result["pin_boxes"],
        sha256=hashes,
        hidden_pins=result["hidden_pins"],
        **result["camera"],
    )


class SampleUndo:
    """Takes a sample back after a failed write (disk full): the folder stays valid up to the last whole sample.

    A row append that hits a full disk can leave part of a line, and the sample's files (or their
    temporaries) may already exist. Undoing cuts metadata.jsonl back to its length before the sample and
    removes the files this sample created -- not a shared twin an earlier sample made -- so `validate`
    finds no torn line and no orphan, and a re-run renders the sample again.
    """

    def __init__(self, metadata: Path, paths):
        self.metadata = metadata
        self.size = metadata.stat().st_size if metadata.exists() else 0
        self.fresh = [path for path in paths if path is not None and not path.exists()]

    def __call__(self) -> None:
        try:
            if self.metadata.exists() and self.metadata.stat().st_size > self.size:
                os.truncate(self.metadata, self.size)  # shrinking a file needs no free space
        except OSError:
            pass  # resume drops a torn last line anyway
        for path in self.fresh:
            for leftover in (path, schema.temp_path_for(path)):
                leftover.unlink(missing_ok=True)


class Timings:
    def __init__(self):
        self.wall, self.render, self.mask, self.calls, self.regions = [], 0.0, 0.0, 0, 0

    def add(self, result: dict) -> None:
        self.wall.append(result["wall_s"])
        self.render += sum(result["render_s"])
        self.calls += len(result["render_s"])
        self.mask += result["mask_s"]
        self.regions += int(result.get("region", False))

    def summary(self, run_wall: float) -> dict:
        n, wall = len(self.wall), sum(self.wall)
        out = {
            "samples": n,
            "run_wall_s": round(run_wall, 3),
            "sample_wall_s": round(wall, 3),
            "render_s": round(self.render, 3),
            "render_calls": self.calls,
            "region_renders": self.regions,
            "mask_s": round(self.mask, 3),
        }
        if n:
            ordered = sorted(self.wall)
            out.update(
                sample_s_mean=round(statistics.fmean(self.wall), 4),
                sample_s_p50=round(ordered[n // 2], 4),
                sample_s_p95=round(ordered[min(n - 1, int(0.95 * n))], 4),
                samples_per_s=round(n / run_wall, 3) if run_wall > 0 else None,
                render_call_s_mean=round(self.render / max(1, self.calls), 4),
                mask_s_mean=round(self.mask / n, 5),
                overhead=round(wall / self.render, 3) if self.render > 0 else None,
            )
        return out


def _render_settings(spec, blender_version: str) -> dict:
    r = spec.render
    return {
        "blender_version": blender_version,
        "engine": r.engine,
        "width": r.width,
        "height": r.height,
        "samples": r.samples,
        "denoise": r.denoise,
        "device": r.device,
        "threads": render_threads(),
    }


def render_sample(pin_scene, writer, part: str, index: int) -> dict:
    """Render one sample (or reference render) into the writer's folder and write its row; returns timings.

    A failed write (disk full) takes the sample back (`SampleUndo`) before the error propagates.
    """
    spec, root = writer.spec, writer.root
    if part == REFERENCE:
        plan, files = plan_reference(spec, index), sample_paths(root, part, index, False, spec.dataset.mask)
    else:
        plan = plan_sample(spec, part, index)
        files = sample_paths(root, part, index, spec.dataset.twin, spec.dataset.mask, shot_index(spec, index))
    undo = SampleUndo(root / part / schema.METADATA, files["abs"].values())
    try:
        result = render_one(pin_scene, plan, files["abs"])
        hashes = _hashes(files["abs"])
        if part == REFERENCE:
            writer.add_reference(reference_row(plan, files["rel"], result, hashes))
        else:
            writer.add_sample(sample_row(spec, plan, files["rel"], result, hashes))
    except OSError:  # disk full mid-sample: leave the folder as it was after the last whole sample
        undo()
        raise
    return result


def render_unit(spec, folder, todo, progress, *, shard=None, should_stop=None, pin_scene=None, stream=None) -> dict:
    """Render the samples `todo` [(part, index)] into `folder` in this process (the inline executor's work).

    The scene is built once (or `pin_scene`, already built, is used); each row is followed by one
    progress event; `should_stop()` is polled between samples, so the sample in hand always finishes.
    dataset.json is rewritten every 10 s (fresh counts for watchers) and once at the end, with timings.
    Returns {"rendered", "stopped", "repaired", "stats", "blender_version"}.
    """
    blender_version = bpy.app.version_string
    writer = schema.DatasetWriter(folder, spec, blender_version, shard=list(shard) if shard else None)
    for problem in writer.repaired:  # always shown: the user should know a row was dropped and why
        print(f"resume: re-rendering {problem}", file=stream if stream is not None else sys.stderr)
    timings, run_start, last_flush = Timings(), time.perf_counter(), time.monotonic()
    stopped = False
    try:
        if todo and pin_scene is None:
            pin_scene = build_scene(spec)
        for part, index in todo:
            if should_stop is not None and should_stop():
                stopped = True
                break
            timings.add(render_sample(pin_scene, writer, part, index))
            progress.advance(part, index)
            if time.monotonic() - last_flush > 10.0:
                writer.flush()
                last_flush = time.monotonic()
    finally:
        stats = {
            "render": _render_settings(spec, blender_version),
            "last_run": timings.summary(time.perf_counter() - run_start),
        }
        writer.flush(stats)
    return {
        "rendered": len(timings.wall),
        "stopped": stopped,
        "repaired": list(writer.repaired),
        "stats": stats["last_run"],
        "blender_version": blender_version,
    }
