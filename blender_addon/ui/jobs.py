"""Background dataset renders: start the CLI in a process, follow its progress, stop it cleanly.

No bpy here, so the UI stays a thin caller: Render Dataset's timer calls `DatasetJob.poll()`, Cancel
calls `cancel()`, and the tests drive the same object to the end with `wait()`. The process runs the
add-on's own CLI (`cli.py render ... --progress-jsonl FILE`: the render pipeline `make render` runs,
started the way dataset/worker.py starts every render process), whose progress stream appends one
JSON line per finished sample; the dataset writer makes every sample atomic, so a stopped folder
resumes where it stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..contract import schema
from ..dataset.progress import last_log_line, read_progress
from ..dataset.worker import cli_env, cli_prefix


def render_args(spec_path: Path, out_dir: Path, progress_path: Path, workers: int) -> list[str]:
    args = ["render", "--spec", str(spec_path), "--out", str(out_dir), "--progress-jsonl", str(progress_path)]
    if workers > 1:
        args += ["--workers", str(workers)]  # the CLI's pipeline shards, runs and merges them itself
    return args


@dataclass
class JobStatus:
    done: int
    total: int | None
    finished: bool
    cancelled: bool
    errors: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def text(self) -> str:
        total = "?" if self.total is None else str(self.total)
        state = "cancelled" if self.cancelled else "failed" if self.errors else "done" if self.finished else ""
        return f"{self.done}/{total} samples" + (f" ({state})" if state else "")


class DatasetJob:
    """One background `render` of a spec into a folder (with `--workers N` the CLI fans out itself)."""

    def __init__(self, spec_json: str, out_dir: Path, addon_dir: Path, blender_binary: str = "", workers: int = 1):
        self.out_dir = Path(out_dir)
        self._tmp = Path(tempfile.mkdtemp(prefix="pinscope-job-"))
        self.spec_path = self._tmp / "spec.json"
        schema.atomic_write(self.spec_path, spec_json)
        self.progress_path = self._tmp / "progress.jsonl"
        self.log_path = self._tmp / "render.log"
        self.cancelled = False
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        args = render_args(self.spec_path, self.out_dir, self.progress_path, workers)
        self.command = cli_prefix(blender_binary, addon_dir) + args
        env = cli_env(addon_dir=addon_dir)
        with open(self.log_path, "wb") as log:
            # A session of its own: Ctrl+C in Blender's terminal must not kill the render half-way;
            # cancel() sends the interrupt deliberately.
            self.process = subprocess.Popen(
                self.command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def poll(self) -> JobStatus:
        done, total = read_progress(self.progress_path)
        code = self.process.poll()
        errors = []
        if code not in (None, 0) and not self.cancelled:
            errors.append(f"render exited with code {code}: {last_log_line(self.log_path, 'no output')}")
        return JobStatus(done, total, code is not None, self.cancelled, errors)

    def cancel(self, grace_s: float = 20.0) -> None:
        """Interrupt the render (it stops after the sample in hand), then insist after `grace_s`."""
        self.cancelled = True
        if self.process.poll() is not None:
            return
        if os.name == "posix":
            self.process.send_signal(signal.SIGINT)
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def wait(self, timeout_s: float | None = None, on_progress=None) -> JobStatus:
        """Block until the render exits (tests, scripts); `on_progress(status)` on each change."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last = None
        while True:
            status = self.poll()
            if on_progress is not None and (status.done, status.total) != last:
                last = (status.done, status.total)
                on_progress(status)
            if status.finished:
                return status
            if deadline is not None and time.monotonic() > deadline:
                self.cancel()
                return self.poll()
            time.sleep(0.1)

    def close(self) -> None:
        """Remove the temporary spec, progress file and log (after the render has exited)."""
        for path in sorted(self._tmp.glob("*")):
            path.unlink(missing_ok=True)
        self._tmp.rmdir()
