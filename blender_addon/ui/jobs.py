"""Background dataset renders: start worker processes, follow their progress, stop them cleanly.

No bpy here, so the UI stays a thin caller: Render Dataset's modal timer calls `DatasetJob.poll()`,
Esc calls `cancel()`, and the tests drive the same object to the end with `wait()`. Workers run the
add-on's CLI (`cli.py render ... --progress-jsonl`), which prints one JSON line per finished sample;
the dataset writer makes every sample atomic, so a stopped folder resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


def uses_python_fallback(blender_binary: str) -> bool:
    """True when there is no Blender executable to run (bpy as a Python module has none)."""
    if not blender_binary:
        return True
    name = Path(blender_binary).name.lower()
    return name.startswith("python") or not Path(blender_binary).is_file()


def worker_command(addon_dir: Path, blender_binary: str, cli_args: list[str]) -> tuple[list[str], dict]:
    """Command line and environment of one background worker.

    With a Blender binary: `blender --background --factory-startup --python cli.py -- <args>`.
    Without one (Blender as a Python module): `python -m <package>.cli <args>` with the add-on's
    parent folder on PYTHONPATH, so the same package (and its vendored contract) is imported.
    """
    env = dict(os.environ)
    if uses_python_fallback(blender_binary):
        parent = str(addon_dir.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (parent, env.get("PYTHONPATH", "")) if p)
        return [sys.executable, "-m", f"{addon_dir.name}.cli", *cli_args], env
    command = [blender_binary, "--background", "--factory-startup", "--python-exit-code", "1",
               "--python", str(addon_dir / "cli.py"), "--", *cli_args]
    return command, env


def render_args(spec_path: Path, out_dir: Path, shard: int, shards: int) -> list[str]:
    args = ["render", "--spec", str(spec_path), "--out", str(out_dir), "--progress-jsonl"]
    if shards > 1:
        args += ["--shard", f"{shard}/{shards}"]
    return args


@dataclass
class _Worker:
    process: subprocess.Popen
    stderr_path: Path
    done: int = 0
    total: int | None = None


@dataclass
class JobStatus:
    done: int
    total: int | None
    finished: bool
    cancelled: bool
    errors: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    def text(self) -> str:
        total = "?" if self.total is None else str(self.total)
        state = "cancelled" if self.cancelled else "failed" if self.errors else "done" if self.finished else ""
        return f"{self.done}/{total} samples" + (f" ({state})" if state else "")


class DatasetJob:
    """`workers` background renders of one spec into one folder, one shard each."""

    def __init__(self, spec_json: str, out_dir: Path, addon_dir: Path, blender_binary: str = "", workers: int = 1):
        self.out_dir = Path(out_dir)
        self._tmp = Path(tempfile.mkdtemp(prefix="pinscope-job-"))
        self.spec_path = self._tmp / "spec.json"
        self.spec_path.write_text(spec_json, encoding="utf-8")
        self._lines: queue.Queue = queue.Queue()
        self._workers: list[_Worker] = []
        self.cancelled = False
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for shard in range(workers):
            command, env = worker_command(addon_dir, blender_binary,
                                          render_args(self.spec_path, self.out_dir, shard, workers))
            stderr_path = self._tmp / f"worker{shard}.log"
            with open(stderr_path, "wb") as stderr:
                process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr,
                                           stdin=subprocess.DEVNULL, text=True, bufsize=1)
            self._workers.append(_Worker(process, stderr_path))
            threading.Thread(target=self._read, args=(len(self._workers) - 1, process), daemon=True).start()

    def _read(self, index: int, process: subprocess.Popen):
        # One thread per worker: the modal timer must never block on a pipe.
        for line in process.stdout:
            self._lines.put((index, line))

    def poll(self) -> JobStatus:
        while True:
            try:
                index, line = self._lines.get_nowait()
            except queue.Empty:
                break
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue  # a worker's ordinary print
            if isinstance(message, dict) and "done" in message:
                worker = self._workers[index]
                worker.done = int(message["done"])
                worker.total = int(message["total"]) if message.get("total") is not None else worker.total
        finished = all(w.process.poll() is not None for w in self._workers)
        errors = [self._error(i, w) for i, w in enumerate(self._workers)
                  if w.process.poll() not in (None, 0) and not self.cancelled]
        totals = [w.total for w in self._workers]
        total = sum(totals) if all(t is not None for t in totals) else None
        return JobStatus(sum(w.done for w in self._workers), total, finished, self.cancelled, errors)

    def _error(self, index: int, worker: _Worker) -> str:
        lines = worker.stderr_path.read_text(errors="replace").strip().splitlines()
        last = lines[-1] if lines else "no error output"
        return f"worker {index} exited with code {worker.process.returncode}: {last}"

    def cancel(self, grace_s: float = 10.0) -> None:
        """Ask workers to stop (SIGINT lets them finish the sample in hand), then insist."""
        self.cancelled = True
        running = [w.process for w in self._workers if w.process.poll() is None]
        for process in running:
            if os.name == "posix":
                process.send_signal(signal.SIGINT)
            else:
                process.terminate()
        deadline = time.monotonic() + grace_s
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def wait(self, timeout_s: float | None = None, on_progress=None) -> JobStatus:
        """Block until every worker exits (tests, scripts); `on_progress(status)` on each change."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last = None
        while True:
            status = self.poll()
            if on_progress is not None and (status.done, status.total) != last:
                last = (status.done, status.total)
                on_progress(status)
            if status.finished:
                time.sleep(0.05)  # let the reader threads hand over the last lines
                return self.poll()
            if deadline is not None and time.monotonic() > deadline:
                self.cancel()
                return self.poll()
            time.sleep(0.1)

    def close(self) -> None:
        """Remove the temporary spec and logs (after the workers have exited)."""
        for path in sorted(self._tmp.glob("*")):
            path.unlink(missing_ok=True)
        self._tmp.rmdir()
