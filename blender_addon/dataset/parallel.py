"""`--workers N`: N local worker processes render disjoint shards, then one merge.

Each worker is the same CLI run as a subprocess (`render --shard i/N` into `<out>/.work/shard-i-of-N`),
so a worker is exactly what a batch system would run, and a crashed worker costs only its own
unfinished sample: its shard folder resumes like any dataset folder. Samples already in the output
(an earlier, interrupted run) are skipped by every worker (`--skip-done-in`). When all shards are
complete they are merged with hard links, the output is validated and `.work/` is removed.

Why subprocesses and not threads or multiprocessing: bpy is one scene per process and not
fork-safe; a fresh interpreter per worker is what Blender supports. The command is:
  - bpy module:      `sys.executable -m blender_addon.cli render ...`
  - inside Blender:  `bpy.app.binary_path --background --factory-startup --python-exit-code 1
                      --python <add-on>/cli.py -- render ...`
A worker holds an exclusive lock on its shard folder for its whole life (the lock file's descriptor is
inherited by the Blender process, and the process dies with its launcher on Linux), so a retried or
restarted worker can never write into a shard folder together with a leftover one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..contract import schema
from .shards import PARTS, WORK_DIR, done_in, merge, shard_dir_name, shard_plan

EXIT_BAD_INPUT = 2  # the CLI's exit code for bad input: retrying cannot help


class WorkerFailed(RuntimeError):
    """A worker exited non-zero; str() is one line naming the shard and the worker's last log line."""


PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the add-on package (blender_addon/ in the repository)


def worker_prefix(blender: str | None = None) -> list[str]:
    """How to start one more PinScope CLI: through the real Blender binary or this interpreter's bpy module."""
    if blender is None:
        try:
            import bpy

            blender = bpy.app.binary_path or None  # '' under the bpy module
        except ImportError:
            blender = None
    if blender:
        return [
            blender,
            "--background",
            "--factory-startup",
            "--python-exit-code",
            "1",
            "--python",
            str(PACKAGE_DIR / "cli.py"),
            "--",
        ]
    return [sys.executable, "-m", f"{PACKAGE_DIR.name}.cli"]


def worker_env(threads: int | None = None) -> dict:
    """Environment of a worker: the add-on's parent folder importable (for `-m`), render threads capped."""
    env = dict(os.environ)
    parent = str(PACKAGE_DIR.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (parent, env.get("PYTHONPATH", "")) if p)
    if threads:
        env["PINSCOPE_THREADS"] = str(threads)
    return env


def worker_command(
    spec_path,
    shard_dir,
    index: int,
    count: int,
    *,
    skip_done_in=None,
    progress_path=None,
    limit: int | None = None,
    blender: str | None = None,
) -> list[str]:
    command = worker_prefix(blender) + [
        "render",
        "--spec",
        str(spec_path),
        "--out",
        str(shard_dir),
        "--shard",
        f"{index}/{count}",
        "--quiet",
    ]
    if skip_done_in is not None:
        command += ["--skip-done-in", str(skip_done_in)]
    if progress_path is not None:
        command += ["--progress-jsonl", str(progress_path)]
    if limit:
        command += ["--limit", str(limit)]
    return command


def _die_with_parent():  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_locked(command: list[str], shard_dir: Path, log_path: Path, threads: int | None = None) -> subprocess.Popen:
    """Start a worker holding an exclusive lock on its shard folder (waits for a leftover holder to end).

    `threads` caps the worker's render threads (PINSCOPE_THREADS) so N workers share the cores.
    """
    import fcntl

    shard_dir.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(shard_dir.parent / f".{shard_dir.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    env = worker_env(threads)
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            pass_fds=(lock_fd,),
            preexec_fn=_die_with_parent,
        )
    finally:
        log.close()
        os.close(lock_fd)  # the child keeps its inherited copy, hence the lock, until it exits


def last_log_line(log_path: Path) -> str:
    try:
        lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:300] if lines else ""


def read_progress(path: Path) -> tuple[int, int]:
    """(done, total) from the last complete line of a worker's --progress-jsonl file; (0, 0) before any."""
    try:
        data = path.read_bytes()
    except OSError:
        return 0, 0
    for line in reversed(data.split(b"\n")[:-1]):
        try:
            event = json.loads(line)
            return int(event.get("done", 0)), int(event.get("total", 0))
        except (ValueError, AttributeError):
            continue
    return 0, 0


def rows_in(folder: Path) -> int:
    """Complete metadata lines in a dataset folder (a cheap progress count; a torn last line is not counted)."""
    count = 0
    for part in PARTS:
        try:
            count += (folder / part / schema.METADATA).read_bytes().count(b"\n")
        except OSError:
            pass
    return count


@dataclass
class ShardJob:
    """One shard's worker: where it writes, what it still has to do, and its current process."""

    index: int
    count: int
    folder: Path
    todo: int  # samples this shard must render (its part minus what the output already has)
    restarts: int = 0
    base: int = 0  # samples done before the current process started
    process: subprocess.Popen | None = None
    finished: bool = False
    runs: list = field(default_factory=list)  # exit codes of this shard's finished processes

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def prepare_work(spec, out_dir: Path, count: int) -> tuple[Path, list[ShardJob]]:
    """Claim the output for the spec, write the spec for the workers, and plan every shard's remaining work."""
    schema.DatasetWriter(out_dir, spec)  # refuses a folder of another spec before anything starts
    already = done_in(out_dir)
    work = out_dir / WORK_DIR
    work.mkdir(exist_ok=True)
    spec_path = work / "spec.json"
    schema.io.write_json_atomic(spec_path, spec.to_dict())
    jobs = []
    for index in range(count):
        plan = shard_plan(spec, index, count)
        todo = sum(len(set(plan[part]) - already[part]) for part in PARTS)
        jobs.append(ShardJob(index, count, work / shard_dir_name(index, count), todo))
    return spec_path, jobs


class ProgressBar:
    """The combined bar of all workers (the runner's bar on stderr) plus `{"done", "total"}` JSON lines."""

    def __init__(self, total: int, workers: int, stream=None, quiet: bool = False, jsonl_path=None):
        from .runner import ProgressBar as Bar

        self.total = total
        self.bar = Bar(total, f"render x{workers}", stream, quiet)
        self.jsonl_path = Path(jsonl_path) if jsonl_path else None
        self.last_done = -1

    def draw(self, done: int, final: bool = False) -> None:
        done = min(done, self.total)
        if self.jsonl_path is not None and done != self.last_done:
            schema.io.append_line(self.jsonl_path, {"done": done, "total": self.total})
        self.last_done = done
        self.bar.update(done, final=final)


def shard_remaining(spec, job: ShardJob, out_dir: Path) -> int:
    """Samples of the job's shard found neither in its folder nor in the output."""
    plan, have, already = shard_plan(spec, job.index, job.count), done_in(job.folder), done_in(out_dir)
    return sum(len(set(plan[p]) - have[p] - already[p]) for p in PARTS)


def render_parallel(
    spec,
    out_dir,
    workers: int,
    *,
    quiet: bool = False,
    progress_path=None,
    restart_every: int | None = None,
    max_restarts: int = 2,
    blender: str | None = None,
    should_stop=None,
    stream=None,
    poll_s: float = 0.25,
) -> dict:
    """Render `spec` into `out_dir` with `workers` local processes; returns a small summary dict.

    restart_every=K starts a fresh worker process every K samples (bounds memory if Blender leaks);
    a worker that crashes is restarted up to `max_restarts` times (its shard resumes where it stopped).
    Raises WorkerFailed (one line) if a shard cannot be finished; everything rendered so far is kept.
    Ctrl+C / SIGINT stops the workers after their current sample (KeyboardInterrupt propagates).
    """
    if workers < 1:
        raise schema.ContractError("--workers", f"must be >= 1, got {workers}")
    out_dir = Path(out_dir)
    spec_path, jobs = prepare_work(spec, out_dir, workers)
    work = out_dir / WORK_DIR
    total = sum(job.todo for job in jobs)
    bar = ProgressBar(total, workers, stream, quiet, progress_path)
    threads = max(1, (os.cpu_count() or 1) // workers)

    failures = []  # one line per crashed worker process that was restarted

    def log_file(job: ShardJob) -> Path:
        return work / f"{job.folder.name}.log"

    def progress_file(job: ShardJob) -> Path:
        return work / f"{job.folder.name}.progress.jsonl"

    def launch(job: ShardJob) -> None:
        # Samples finished before this process started; its own progress file counts the rest.
        job.base = job.todo - shard_remaining(spec, job, out_dir)
        progress_file(job).unlink(missing_ok=True)
        command = worker_command(
            spec_path,
            job.folder,
            job.index,
            job.count,
            skip_done_in=out_dir,
            progress_path=progress_file(job),
            limit=restart_every,
            blender=blender,
        )
        job.process = start_locked(command, job.folder, log_file(job), threads)

    def done_now() -> int:
        return sum(
            job.todo if job.finished else min(job.todo, job.base + read_progress(progress_file(job))[0]) for job in jobs
        )

    for job in jobs:
        if job.todo == 0:
            # Nothing left for this shard (a finished dataset rendered again, or one resumed with another
            # --workers): an empty shard folder keeps the merge's "every shard i/N present" check whole.
            schema.DatasetWriter(job.folder, spec, shard=[job.index, job.count])
            job.finished = True
        else:
            launch(job)
    started = time.monotonic()
    try:
        while not all(job.finished for job in jobs):
            if should_stop is not None and should_stop():
                raise KeyboardInterrupt
            for job in jobs:
                if job.finished or job.process.poll() is None:
                    continue
                code = job.process.returncode
                job.runs.append(code)
                if code == 0 and shard_remaining(spec, job, out_dir) == 0:
                    job.finished = True
                    continue
                if code == 0 and restart_every:
                    launch(job)  # the planned restart after K samples
                    continue
                why = f"worker for shard {job.label} exited with {code}: {last_log_line(log_file(job))}"
                if code != EXIT_BAD_INPUT and job.restarts < max_restarts:
                    job.restarts += 1
                    failures.append(why)
                    if not quiet:
                        print(f"{why}; restarting it (its shard resumes)", file=stream or sys.stderr)
                    launch(job)
                else:
                    _stop_all(jobs)
                    raise WorkerFailed(f"{why} (log: {log_file(job)}); re-run the same command to resume")
            bar.draw(done_now())
            time.sleep(poll_s)
    except KeyboardInterrupt:
        _stop_all(jobs)
        raise
    render_s = time.monotonic() - started
    bar.draw(total, final=True)
    report = merge_finished(jobs, out_dir, work)
    return {
        "workers": workers,
        "samples": total,
        "render_s": round(render_s, 3),
        "restarts": sum(job.restarts for job in jobs),
        "processes": sum(len(job.runs) for job in jobs),
        "failures": failures,
        "merge": report.summary(),
    }


def merge_finished(jobs, out_dir: Path, work: Path):
    """Merge finished shard folders into `out_dir`, validate it, and only then remove the work folder."""
    report = merge([job.folder for job in jobs], out_dir, link=True)
    problems = schema.validate_dataset(out_dir)
    if problems:
        raise WorkerFailed(f"merged dataset is not valid: {problems[0]} (shards kept in {work})")
    shutil.rmtree(work, ignore_errors=True)
    return report


def _stop_all(jobs) -> None:
    """Ask running workers to stop (SIGINT: the CLI finishes its current sample), then make sure."""
    running = [job.process for job in jobs if job.process is not None and job.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 30
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
