"""Background dataset renders: start the CLI in a process, follow its progress, stop it cleanly.

No bpy here, so the UI stays a thin caller: Render Dataset's modal timer calls `DatasetJob.poll()`,
Esc calls `cancel()`, and the tests drive the same object to the end with `wait()`. The process runs
the add-on's own CLI (`cli.py render ... --progress-jsonl FILE`, the code `make render` runs), which
appends one JSON line per finished sample; the dataset writer makes every sample atomic, so a
stopped folder resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def render_command(addon_dir: Path, blender_binary: str, cli_args: list[str]) -> tuple[list[str], dict]:
    """Command line and environment of the background render.

    With a Blender binary: `blender --background --factory-startup --python cli.py -- <args>`.
    Without one (Blender as a Python module): `python -m <package>.cli <args>` with the add-on's
    parent folder on PYTHONPATH, so the same package (and its vendored contract) is imported.
    """
    env = dict(os.environ)
    if not blender_binary:  # Blender as a Python module has no executable: use this interpreter
        parent = str(addon_dir.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (parent, env.get("PYTHONPATH", "")) if p)
        return [sys.executable, "-m", f"{addon_dir.name}.cli", *cli_args], env
    command = [
        blender_binary,
        "--background",
        "--factory-startup",
        "--python-exit-code",
        "1",
        "--python",
        str(addon_dir / "cli.py"),
        "--",
        *cli_args,
    ]
    return command, env


def render_args(spec_path: Path, out_dir: Path, progress_path: Path, workers: int) -> list[str]:
    args = ["render", "--spec", str(spec_path), "--out", str(out_dir), "--progress-jsonl", str(progress_path)]
    if workers > 1:
        args += ["--workers", str(workers)]  # the CLI shards, runs and merges them itself
    return args


def read_progress(path: Path) -> tuple[int, int | None]:
    """(done, total) from the last complete line of a --progress-jsonl file; (0, None) before any."""
    try:
        lines = path.read_bytes().split(b"\n")[:-1]  # a line still being written has no newline yet
    except OSError:
        return 0, None
    for line in reversed(lines):
        try:
            event = json.loads(line)
            return int(event["done"]), (int(event["total"]) if event.get("total") is not None else None)
        except (ValueError, KeyError, TypeError):
            continue
    return 0, None


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
        self.spec_path.write_text(spec_json, encoding="utf-8")
        self.progress_path = self._tmp / "progress.jsonl"
        self.log_path = self._tmp / "render.log"
        self.cancelled = False
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        args = render_args(self.spec_path, self.out_dir, self.progress_path, workers)
        self.command, env = render_command(addon_dir, blender_binary, args)
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
            errors.append(f"render exited with code {code}: {self.last_log_line()}")
        return JobStatus(done, total, code is not None, self.cancelled, errors)

    def last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no output"
        return lines[-1].strip()[:300] if lines else "no output"

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
