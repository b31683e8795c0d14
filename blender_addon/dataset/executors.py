"""Executors: what runs the pipeline's work units. Each only runs units into their folders.

An executor has a `name`, a number of `workers` (the pipeline plans that many units), `in_process`
(True: the units are rendered by this process, straight into the output) and `run(job)`, which
returns when every unit is done (or `job.stop_requested()`: then it sets `job.stopped`), and raises
WorkerFailed (one line) when a unit cannot be finished. Claiming, planning, progress, merge and the
report are the pipeline's (dataset/pipeline.py); a new backend is a `run` that starts
`job.command(unit)` somewhere and calls `job.tick()` while it waits (docs/architecture.md).

    Inline()                   this process (bpy), the default of `render` with --workers 1
    Processes(workers)         local worker processes, restarted when they crash
    Ray(workers), ray_executor.py   one Ray task per unit, on RAY_ADDRESS or a local Ray
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from ..contract import schema
from .pipeline import Job, WorkerFailed, WorkUnit
from .progress import last_log_line
from .shards import done_in
from .worker import EXIT_BAD_INPUT, start_locked


class Executor:
    """Base: a context manager (a backend may connect in __enter__) with the attributes above."""

    name = "executor"
    in_process = False
    workers = 1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def run(self, job: Job) -> None:
        raise NotImplementedError


class Inline(Executor):
    """Render in this process; `pin_scene` reuses a scene already built for the spec (the panel's preview)."""

    name = "inline"
    in_process = True

    def __init__(self, pin_scene=None):
        self.pin_scene = pin_scene

    def run(self, job: Job) -> None:
        from .runner import render_unit  # bpy: imported only when this process renders

        for unit in job.units:
            result = render_unit(
                job.spec,
                unit.folder,
                unit.todo,
                job.progress,
                shard=unit.shard,
                should_stop=job.should_stop,
                pin_scene=self.pin_scene,
                stream=job.stream,
            )
            job.stats["inline"] = result
            job.stopped = job.stopped or result["stopped"]


@dataclass
class _Worker:
    """The process currently running one unit, and what happened to that unit's processes so far."""

    unit: WorkUnit
    process: subprocess.Popen | None = None
    restarts: int = 0
    runs: list = field(default_factory=list)  # exit codes of finished processes
    finished: bool = False


class Processes(Executor):
    """`--workers N`: N local worker processes, one per unit.

    restart_every=K starts a fresh worker process every K samples (bounds memory if Blender leaks); a
    worker that crashes is restarted up to `max_restarts` times (its shard folder resumes where it
    stopped). A stop request interrupts the workers after their sample in hand.
    """

    name = "processes"

    def __init__(self, workers: int, *, restart_every=None, max_restarts=2, blender=None, poll_s=0.25):
        if workers < 1:
            raise schema.ContractError("--workers", f"must be >= 1, got {workers}")
        if restart_every is not None and restart_every < 1:
            raise schema.ContractError("--restart-every", f"must be >= 1, got {restart_every}")
        self.workers, self.restart_every, self.max_restarts = workers, restart_every, max_restarts
        self.blender, self.poll_s = blender, poll_s

    def run(self, job: Job) -> None:
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        workers = [_Worker(unit, finished=not unit.todo) for unit in job.units]
        failures = []
        job.stats.update(failures=failures)

        def launch(w: _Worker) -> None:
            command = job.command(w.unit, limit=self.restart_every, blender=self.blender)
            w.process = start_locked(command, w.unit.folder, w.unit.log_path, threads)

        for w in workers:
            if not w.finished:
                launch(w)
        try:
            while not all(w.finished for w in workers):
                if job.stop_requested():
                    job.stopped = True
                    break
                for w in workers:
                    if not w.finished and w.process.poll() is not None:
                        self._settle(w, job, launch, failures)
                job.tick()
                time.sleep(self.poll_s)
        finally:
            _stop_all([w.process for w in workers if w.process is not None])
            job.stats.update(processes=sum(len(w.runs) for w in workers), restarts=sum(w.restarts for w in workers))
        job.tick()

    def _settle(self, w: _Worker, job: Job, launch, failures: list) -> None:
        """A worker process exited: the unit is finished, due for its planned restart, retried, or failed."""
        code = w.process.returncode
        w.runs.append(code)
        have = done_in(w.unit.folder)
        left = [(part, index) for part, index in w.unit.todo if index not in have[part]]
        if code == 0 and not left:
            w.finished = True
        elif code == 0 and self.restart_every:
            launch(w)  # the planned restart after K samples
        else:
            why = f"worker for shard {w.unit.label} exited with {code}: {last_log_line(w.unit.log_path)}"
            if code == EXIT_BAD_INPUT or w.restarts >= self.max_restarts:
                raise WorkerFailed(f"{why} (log: {w.unit.log_path}); re-run the same command to resume")
            w.restarts += 1
            failures.append(why)
            if not job.quiet:
                print(f"{why}; restarting it (its shard resumes)", file=job.stream or sys.stderr)
            launch(w)


def _stop_all(processes) -> None:
    """Ask running workers to stop (SIGINT: the CLI finishes its current sample), then make sure."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 30
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
