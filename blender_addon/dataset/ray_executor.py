"""`--executor ray`: one Ray task per work unit, on the cluster in RAY_ADDRESS (or a local Ray).

Ray is an optional dependency (`pip install -r requirements/ray.txt`), imported only here. Each task
runs the very worker the processes executor runs (the PinScope CLI as a subprocess rendering shard
i/N into `<out>/.work/shard-i-of-N`), so a task needs only a node that can start PinScope's Blender
and see the output folder (shared storage on a real cluster); Ray itself does not have to live in the
Blender environment. Claiming, planning, progress and the merge are the pipeline's.

Faults: a task whose Ray worker dies (node lost, process killed) is retried by Ray up to `max_retries`
times; a task whose PinScope worker exits non-zero (other than exit 2, bad input) is retried too. A
retry resumes the shard folder where it stopped, and the shard lock (worker.start_locked) keeps a
leftover process of the killed attempt from writing at the same time, so nothing is duplicated.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..contract import schema
from .executors import Executor
from .pipeline import Job, WorkerFailed
from .progress import last_log_line
from .worker import EXIT_BAD_INPUT, start_locked


class ShardTaskError(RuntimeError):
    """A shard's worker exited non-zero in a Ray task (retryable unless it was bad input)."""


class ShardBadInput(RuntimeError):
    """The worker refused its input (exit 2): retrying cannot help."""


def run_shard_task(command: list, shard_dir: str, log_path: str, threads: int = 1) -> dict:
    """Body of one Ray task: run the worker to completion on this node; raise on failure (Ray retries)."""
    process = start_locked(command, Path(shard_dir), Path(log_path), threads)
    code = process.wait()
    if code == EXIT_BAD_INPUT:
        raise ShardBadInput(last_log_line(Path(log_path)))
    if code != 0:
        raise ShardTaskError(f"exit {code}: {last_log_line(Path(log_path))}")
    return {"node": os.uname().nodename}


class Ray(Executor):
    """Units as Ray tasks (one CPU each); `workers` defaults to the cluster's CPU count."""

    name = "ray"

    def __init__(self, workers=None, *, address=None, num_cpus=None, max_retries=3, blender=None, poll_s=0.5):
        self.requested, self.address, self.num_cpus = workers, address, num_cpus
        self.max_retries, self.blender, self.poll_s = max_retries, blender, poll_s
        self.workers, self.ray, self.started_here = workers or 1, None, False

    def __enter__(self):
        try:
            import ray  # optional dependency
        except ImportError:
            raise schema.ContractError(
                "--executor",
                "ray is not installed in this environment; install it with "
                "`pip install -r requirements/ray.txt` or use --executor processes",
            ) from None
        self.ray = ray
        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS") or None
            kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if address is None:
                kwargs["num_cpus"] = self.num_cpus or os.cpu_count() or 1
            ray.init(address=address, **kwargs)
            self.started_here = True
        self.workers = self.requested or max(1, int(ray.cluster_resources().get("CPU", 1)))
        return self

    def __exit__(self, *exc) -> bool:
        if self.started_here:
            self.ray.shutdown()
            self.started_here = False
        return False

    def run(self, job: Job) -> None:
        ray = self.ray
        task = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=[ShardTaskError])(run_shard_task)
        threads = int(os.environ.get("PINSCOPE_THREADS", "1"))  # one Ray CPU per task
        refs = {
            task.remote(job.command(unit, blender=self.blender), str(unit.folder), str(unit.log_path), threads): unit
            for unit in job.units
            if unit.todo
        }
        pending, nodes = list(refs), set()
        job.stats.update(processes=len(refs), nodes=[])
        try:
            while pending:
                if job.stop_requested():
                    job.stopped = True
                    return
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=self.poll_s)
                for ref in ready:
                    nodes.add(self._result(ref, refs[ref])["node"])
                job.tick()
                time.sleep(0 if ready else 0.05)
        finally:
            for ref in pending:  # stopped or failed: the tasks' workers die with their Ray workers
                ray.cancel(ref, force=True)
            job.stats["nodes"] = sorted(nodes)
        job.tick()

    def _result(self, ref, unit) -> dict:
        try:
            return self.ray.get(ref)
        except Exception as err:  # a RayTaskError wraps ours; keep the message one line
            cause = str(getattr(err, "cause", None) or err).strip()
            last = cause.splitlines()[-1] if cause else repr(err)
            raise WorkerFailed(
                f"ray task for shard {unit.label} failed after retries: {last}; re-run the same command to resume"
            ) from None
