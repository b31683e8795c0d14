"""`--executor ray`: render shards as Ray tasks on the cluster in RAY_ADDRESS (or a local Ray), then merge.

Ray is an optional dependency (`pip install -r requirements/ray.txt`), imported only inside these
functions. Each Ray task runs the very worker the local executor runs (the PinScope CLI as a
subprocess: `render --shard i/N` into `<out>/.work/shard-i-of-N`), so a task needs only a node that
can start PinScope's Blender and see the output folder (shared storage on a real cluster). Ray itself
does not have to live in the Blender environment: the task only starts a process.

Faults: a task whose Ray worker dies (node lost, process killed) is retried by Ray up to `max_retries`
times; a task whose PinScope worker exits non-zero (other than exit 2, bad input) is retried too. A retry
resumes the shard folder where it stopped, and the shard lock (see parallel.start_locked) keeps a
leftover process of the killed attempt from writing at the same time, so nothing is duplicated.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..contract import schema
from .parallel import (
    EXIT_BAD_INPUT,
    ProgressBar,
    WorkerFailed,
    last_log_line,
    merge_finished,
    prepare_work,
    rows_in,
    start_locked,
    worker_command,
)
from .shards import WORK_DIR


class ShardTaskError(RuntimeError):
    """A shard's worker exited non-zero in a Ray task (retryable unless it was bad input)."""


class ShardBadInput(RuntimeError):
    """The worker refused its input (exit 2): retrying cannot help."""


def run_shard_task(command: list, shard_dir: str, log_path: str, threads: int = 1) -> dict:
    """Body of one Ray task: run the worker to completion in this node; raise on failure (Ray retries)."""
    start = time.monotonic()
    process = start_locked(command, Path(shard_dir), Path(log_path), threads)
    code = process.wait()
    if code == EXIT_BAD_INPUT:
        raise ShardBadInput(last_log_line(Path(log_path)))
    if code != 0:
        raise ShardTaskError(f"exit {code}: {last_log_line(Path(log_path))}")
    return {"shard_dir": shard_dir, "seconds": round(time.monotonic() - start, 3), "node": os.uname().nodename}


def _connect(address: str | None, num_cpus: int | None):
    """Join RAY_ADDRESS (or `address`), else start a local Ray; returns (ray, started_here)."""
    try:
        import ray
    except ImportError:
        raise schema.ContractError(
            "--executor",
            "ray is not installed in this environment; install it with "
            "`pip install -r requirements/ray.txt` or use --executor local",
        ) from None
    if ray.is_initialized():
        return ray, False
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address is None:
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
    ray.init(address=address, **kwargs)
    return ray, True


def render_with_ray(
    spec,
    out_dir,
    shards: int | None = None,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    max_retries: int = 3,
    quiet: bool = False,
    progress_path=None,
    blender: str | None = None,
    stream=None,
    poll_s: float = 0.5,
) -> dict:
    """Render `spec` into `out_dir` as `shards` Ray tasks (default: the cluster's CPU count), then merge."""
    ray, started_here = _connect(address, num_cpus)
    try:
        count = shards or max(1, int(ray.cluster_resources().get("CPU", 1)))
        out_dir = Path(out_dir).resolve()
        spec_path, jobs = prepare_work(spec, out_dir, count)
        work = out_dir / WORK_DIR
        task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=[ShardTaskError])(run_shard_task)
        refs = {}
        threads_per_task = int(os.environ.get("PINSCOPE_THREADS", "1"))  # one Ray CPU per task
        for job in jobs:
            if job.todo == 0:
                continue
            job.base = rows_in(job.folder)  # rows of an earlier, interrupted attempt
            progress = work / f"{job.folder.name}.progress.jsonl"
            command = worker_command(
                spec_path,
                job.folder,
                job.index,
                job.count,
                skip_done_in=out_dir,
                progress_path=progress,
                blender=blender,
            )
            ref = task.remote(command, str(job.folder), str(work / f"{job.folder.name}.log"), threads_per_task)
            refs[ref] = job
        total = sum(job.todo for job in jobs)
        bar = ProgressBar(total, count, stream, quiet, progress_path)
        pending, results, started = list(refs), [], time.monotonic()
        while pending:
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=poll_s)
            for ref in ready:
                try:
                    results.append(ray.get(ref))
                except Exception as err:  # a RayTaskError wraps ours; keep the message one line
                    job = refs[ref]
                    cause = getattr(err, "cause", None) or err
                    raise WorkerFailed(
                        f"ray task for shard {job.label} failed after retries: "
                        f"{str(cause).strip().splitlines()[-1] if str(cause).strip() else cause!r}; "
                        f"re-run the same command to resume"
                    ) from None
            bar.draw(sum(min(job.todo, rows_in(job.folder) - job.base) for job in jobs))
        render_s = time.monotonic() - started
        bar.draw(total, final=True)
        report = merge_finished(jobs, out_dir, work)
        return {
            "executor": "ray",
            "shards": count,
            "samples": total,
            "render_s": round(render_s, 3),
            "nodes": sorted({r["node"] for r in results}),
            "merge": report.summary(),
        }
    finally:
        if started_here:
            ray.shutdown()
