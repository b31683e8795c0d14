"""The one render pipeline: `render(spec, out, executor)` turns a spec into a complete dataset folder.

Everything every way of rendering shares lives here, once:

  1. check the request (bad input is one ContractError line, before anything is written);
  2. claim the folder: refuse one made from another spec or one that cannot be written, read-only;
  3. plan the work: the samples the folder still lacks, as work units (shards of `dataset.shards`);
     a folder with nothing left is left untouched -- no dataset.json rewrite, no scratch folder;
  4. hand the units to the executor, which only runs each unit into its folder;
  5. forward one progress event per finished sample (dataset/progress.py), whoever rendered it;
  6. merge the unit folders into the output and validate it (executors with workers);
  7. return one typed RenderReport.

Executors (dataset/executors.py, dataset/ray_executor.py): `Inline` renders in this process straight
into the output; `Processes` and `Ray` run one worker per unit -- the same CLI, rendering shard i/N
into `<out>/.work/shard-i-of-N` -- and the pipeline merges them. Every shard i/N gets a folder before
the executor starts (an empty one when the output already holds all its samples), so a merge always
finds every shard, whichever executor ran and however often the folder was rendered before.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..contract import schema
from . import worker
from .progress import EventTail, Progress
from .shards import PARTS, WORK_DIR, done_in, merge, scan_done, shard_dir_name, shard_plan


class WorkerFailed(RuntimeError):
    """A worker could not finish its unit; str() is one line naming the shard and the worker's last words."""


@dataclass
class WorkUnit:
    """One shard of the remaining work: render `todo` [(part, index)] into `folder`."""

    folder: Path
    todo: list
    shard: tuple | None = None  # (i, N), or None for a whole dataset rendered in one go
    skip_done_in: Path | None = None  # the output, whose samples a worker skips

    @property
    def label(self) -> str:
        return "whole" if self.shard is None else f"{self.shard[0]}/{self.shard[1]}"

    @property
    def progress_path(self) -> Path:
        return self.folder.parent / f"{self.folder.name}.progress.jsonl"

    @property
    def log_path(self) -> Path:
        return self.folder.parent / f"{self.folder.name}.log"


@dataclass
class Job:
    """What an executor gets: the units to run, and the pipeline's hooks while they run."""

    spec: schema.GenerationSpec
    out: Path
    units: list
    progress: Progress
    should_stop: object = None  # () -> bool, polled between samples / polls
    spec_path: Path | None = None  # the spec as workers read it (<out>/.work/spec.json)
    stream: object = None  # where executors say what they do (stderr)
    quiet: bool = False
    stats: dict = field(default_factory=dict)  # filled by the executor: processes, restarts, nodes, ...
    stopped: bool = False
    _tails: dict = field(default_factory=dict)
    _remaining: dict = field(default_factory=dict)

    def stop_requested(self) -> bool:
        return self.should_stop is not None and bool(self.should_stop())

    def command(self, unit: WorkUnit, *, limit: int | None = None, blender: str | None = None) -> list[str]:
        """The worker that renders `unit`: the PinScope CLI on shard i/N into the unit's folder."""
        command = worker.cli_prefix(blender) + ["render", "--spec", str(self.spec_path), "--out", str(unit.folder)]
        command += ["--shard", unit.label, "--skip-done-in", str(unit.skip_done_in)]
        command += ["--progress-jsonl", str(unit.progress_path), "--quiet"]
        return command + (["--limit", str(limit)] if limit else [])

    def tick(self) -> None:
        """Forward the workers' new progress events (each worker reports what it has left)."""
        for unit in self.units:
            tail = self._tails.setdefault(unit.label, EventTail(unit.progress_path))
            for event in tail.new_events():
                try:
                    self._remaining[unit.label] = int(event["total"]) - int(event["done"])
                except (KeyError, TypeError, ValueError):
                    continue
                left = sum(self._remaining.get(u.label, len(u.todo)) for u in self.units)
                self.progress.advance(event.get("split", ""), event.get("index", -1), done=self.progress.total - left)


@dataclass
class RenderReport:
    """What one render did. `remaining` counts samples the output still lacks (0: complete)."""

    out: str
    executor: str
    workers: int
    total: int  # samples this run set out to render
    rendered: int
    already_done: int
    remaining: int
    stopped: bool
    seconds: float
    repaired: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)  # timings of the in-process loop (Inline)
    merge: str = ""
    processes: int = 0
    restarts: int = 0
    failures: list = field(default_factory=list)
    nodes: list = field(default_factory=list)
    blender_version: str = ""

    def summary(self) -> dict:
        """The one-line JSON the CLI prints when it is done."""
        out = {k: v for k, v in vars(self).items() if v not in ("", [], {}, None) and k != "stats"}
        return {**out, **({"stats": self.stats} if self.stats else {})}


def check_request(spec, out, executor, *, shard=None, skip_done_in=None, limit=None, progress_jsonl=None):
    """Refuse bad input with one ContractError line; reads the file system, writes nothing."""
    if not isinstance(spec, schema.GenerationSpec):
        raise schema.ContractError("spec", f"must be a GenerationSpec, got {type(spec).__name__}")
    if out is None or not str(out).strip():
        raise schema.ContractError("--out", "must name a dataset folder, got an empty path")
    if limit is not None and limit < 0:
        raise schema.ContractError("--limit", f"must be >= 0, got {limit}")
    if not executor.in_process:
        if limit is not None:  # a limit split over workers would not say which samples render
            raise schema.ContractError("--limit", "works with one process only (--workers 1, --executor inline)")
        if shard is not None:
            raise schema.ContractError("--workers", "cannot be combined with --shard (run one shard per worker)")
    if progress_jsonl not in (None, "-"):
        target = Path(progress_jsonl)
        if not target.parent.is_dir():
            raise schema.ContractError("--progress-jsonl", f"folder {target.parent} does not exist")
        if target.is_dir():
            raise schema.ContractError("--progress-jsonl", f"{target} is a folder; name a file")
    if skip_done_in is not None:
        if not (Path(skip_done_in) / schema.MANIFEST).is_file():
            raise schema.ContractError("--skip-done-in", f"{skip_done_in} is not a dataset folder (no dataset.json)")
        other = schema.read_manifest(skip_done_in)
        if other.spec_hash != spec.fingerprint():
            raise schema.ContractError("--skip-done-in", f"{skip_done_in} holds a dataset of a different spec")


def claim(spec, out: Path) -> None:
    """Refuse a folder of another spec, or one this process cannot write to -- without writing to it."""
    if (out / schema.MANIFEST).is_file():
        manifest = schema.read_manifest(out)
        if manifest.spec_hash != spec.fingerprint():
            raise schema.ContractError(
                "--out",
                f"{out} holds a dataset made from a different spec (spec_hash {manifest.spec_hash},"
                f" this spec {spec.fingerprint()}); choose another folder",
            )
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise schema.ContractError("--out", f"cannot write to {out}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        problem = "read-only file system" if _read_only_fs(existing) else "permission denied"
        raise schema.ContractError("--out", f"cannot write to {out}: {problem} ({existing})")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def wanted(spec, shard=None, select=None) -> list:
    """(part, index) of every sample this run is about: the spec's, or shard i/N's, optionally `select`ed."""
    plan = shard_plan(spec, *(shard or (0, 1)))
    items = [(part, index) for part in PARTS for index in plan[part]]
    if select is not None:
        chosen = set(map(tuple, select))
        items = [item for item in items if item in chosen]
    return items


def _missing(items, *done_maps) -> list:
    return [(part, index) for part, index in items if not any(index in done[part] for done in done_maps)]


def render(
    spec,
    out,
    executor,
    *,
    shard=None,
    skip_done_in=None,
    limit=None,
    select=None,
    progress_jsonl=None,
    on_progress=None,
    should_stop=None,
    quiet=False,
    stream=None,
) -> RenderReport:
    """Render every sample `out` still lacks with `executor`; see the module docstring for the steps.

    shard=(i, N) renders only that shard's share (the folder is marked shard i of N); skip_done_in
    skips samples another folder of the same spec holds; limit caps the samples of this run (Inline);
    select=[(part, index)] renders only those samples; on_progress(event) sees every progress event;
    should_stop() stops after the samples in hand (the report says stopped; a rerun resumes).
    """
    check_request(
        spec, out, executor, shard=shard, skip_done_in=skip_done_in, limit=limit, progress_jsonl=progress_jsonl
    )
    out = Path(out)
    claim(spec, out)
    started = time.monotonic()
    items = wanted(spec, shard, select)
    skip = done_in(skip_done_in) if skip_done_in is not None else {part: set() for part in PARTS}
    done, damaged = scan_done(out)
    todo = _missing(items, done, skip)[: None if limit is None else limit]
    already = len(items) - len(_missing(items, done))
    if not todo and not damaged and (out / schema.MANIFEST).is_file():
        return _report(executor, out, items, done, skip, already=already, started=started)
    with executor:
        units, spec_path = (
            ([WorkUnit(out, todo, shard)], None)
            if executor.in_process
            else _plan_worker_units(spec, out, executor.workers)
        )
        progress = Progress(
            sum(len(u.todo) for u in units),
            already,
            label="render" if executor.workers == 1 else f"render x{executor.workers}",
            jsonl=progress_jsonl,
            quiet=quiet,
            stream=stream,
            callback=on_progress,
        )
        job = Job(spec, out, units, progress, should_stop, spec_path=spec_path, stream=stream, quiet=quiet)
        executor.run(job)
        progress.finish()
        merged = "" if job.stopped or executor.in_process else _merge_units(job)
    return _report(executor, out, items, done_in(out), skip, job=job, already=already, merged=merged, started=started)


def _plan_worker_units(spec, out: Path, count: int) -> tuple[list, Path]:
    """Claim the output, write the spec for the workers, and give every shard i/N a folder and its work.

    A shard with nothing left (the output or its folder already has all its samples) gets an empty shard
    folder here, so the merge finds every shard i/N whatever happened before. Returns (units, spec path).
    """
    schema.DatasetWriter(out, spec)  # creates dataset.json for a new folder; repairs damaged rows
    in_out = done_in(out)
    work = out / WORK_DIR
    work.mkdir(exist_ok=True)
    spec_path = work / "spec.json"
    schema.write_json_atomic(spec_path, spec.to_dict())
    units = []
    for index in range(count):
        folder = work / shard_dir_name(index, count)
        schema.DatasetWriter(folder, spec, shard=[index, count])  # claim: the same spec, or a fresh shard
        todo = _missing(wanted(spec, (index, count)), in_out, done_in(folder))
        unit = WorkUnit(folder, todo, (index, count), skip_done_in=out)
        unit.progress_path.unlink(missing_ok=True)  # events of an earlier run are not this run's
        units.append(unit)
    return units, spec_path


def _merge_units(job: Job) -> str:
    """Merge every shard folder into the output, validate it, and only then remove the work folder."""
    work = job.out / WORK_DIR
    report = merge([unit.folder for unit in job.units], job.out, link=True)
    problems = schema.validate_dataset(job.out)
    if problems:
        raise WorkerFailed(f"merged dataset is not valid: {problems[0]} (shards kept in {work})")
    shutil.rmtree(work, ignore_errors=True)
    return report.summary()


def _report(executor, out, items, done, skip, *, already, started, job=None, merged="") -> RenderReport:
    stats = dict(job.stats) if job is not None else {}
    inline = stats.pop("inline", {})
    return RenderReport(
        out=str(out),
        executor=executor.name,
        workers=executor.workers,
        total=job.progress.total if job is not None else 0,
        rendered=job.progress.done if job is not None else 0,
        already_done=already,
        remaining=len(_missing(items, done, skip)),
        stopped=job.stopped if job is not None else False,
        seconds=round(time.monotonic() - started, 3),
        repaired=inline.get("repaired", []),
        stats=inline.get("stats", {}),
        merge=merged,
        processes=stats.get("processes", 0),
        restarts=stats.get("restarts", 0),
        failures=stats.get("failures", []),
        nodes=stats.get("nodes", []),
        blender_version=inline.get("blender_version", ""),
    )
