"""Progress of a render: one event per finished sample, a bar on stderr, and the readers of both.

No bpy. A render emits one event right after a sample's row is written (`Progress.advance`); the
event goes to the bar, to `--progress-jsonl` (a file or stdout) and to an optional callback. A
worker process is a render of its own, so its events land in its own JSON-lines file; the pipeline
tails those files (`EventTail`) and re-emits them as one stream over all workers. Every event has
the same shape whatever runs the samples:

    {"done": 3, "total": 12, "split": "train", "index": 5, "already": 0}

`done` counts the samples this run finished, `total` what it has to do, `already` what the folder
held before it started. The panel's background job reads the last complete line (`read_progress`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..contract import schema


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """`render [####----] 3/12 25.0% 1.50 samples/s elapsed 0:02 ETA 0:06` on stderr (redrawn in place
    on a terminal, a line every 5 s in a log)."""

    def __init__(self, total: int, label: str = "render", stream=None, quiet: bool = False, width: int = 28):
        self.total, self.label, self.quiet, self.width = total, label, quiet, width
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())

    def text(self, done: int) -> str:
        elapsed = time.monotonic() - self.start
        rate = done / elapsed if elapsed > 0 and done else 0.0
        eta = format_duration((self.total - done) / rate) if rate else "?"
        filled = int(self.width * done / self.total) if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        pct = 100.0 * done / self.total if self.total else 100.0
        return (
            f"{self.label} [{bar}] {done}/{self.total} {pct:5.1f}% {rate:.2f} samples/s "
            f"elapsed {format_duration(elapsed)} ETA {eta}"
        )

    def update(self, done: int, final: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not final and now - self.last_draw < (0.2 if self.interactive else 5.0):
            return
        self.last_draw = now
        if self.interactive:
            self.stream.write("\r" + self.text(done) + ("\n" if final else ""))
        else:
            self.stream.write(self.text(done) + "\n")
        self.stream.flush()


class Progress:
    """The one event stream of a render: bar + JSON lines (`jsonl`: a path, '-' for stdout, or None)
    + `callback(event)`."""

    def __init__(
        self, total: int, already: int, *, label="render", jsonl=None, quiet=False, stream=None, callback=None
    ):
        self.total, self.already, self.done = total, already, 0
        self.bar = ProgressBar(total, label, stream, quiet)
        self.jsonl = None if jsonl is None else str(jsonl)
        self.callback = callback

    def advance(self, split: str, index: int, done: int | None = None) -> None:
        """A sample's row was written (`done`: the new count, when a worker's events say it)."""
        done = self.done + 1 if done is None else min(self.total, done)
        if done <= self.done:
            return
        self.done = done
        event = {"done": done, "total": self.total, "split": split, "index": index, "already": self.already}
        if self.jsonl == "-":
            sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        elif self.jsonl:
            schema.io.append_line(self.jsonl, event)
        if self.callback is not None:
            self.callback(event)
        self.bar.update(done)

    def finish(self) -> None:
        self.bar.update(self.done, final=True)


class EventTail:
    """New complete event lines of a worker's JSON-lines file since the last call (a torn last line waits)."""

    def __init__(self, path: Path):
        self.path, self.offset = Path(path), 0

    def new_events(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        events = []
        for line in complete.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events


def read_progress(path: Path) -> tuple[int, int | None]:
    """(done, total) from the last complete line of a progress file; (0, None) before any."""
    try:
        lines = Path(path).read_bytes().split(b"\n")[:-1]  # a line still being written has no newline yet
    except OSError:
        return 0, None
    for line in reversed(lines):
        try:
            event = json.loads(line)
            return int(event["done"]), (int(event["total"]) if event.get("total") is not None else None)
        except (ValueError, KeyError, TypeError):
            continue
    return 0, None


def last_log_line(log_path: Path, default: str = "") -> str:
    """The last non-blank line of a worker's log (what it said before it stopped), at most 300 characters."""
    try:
        lines = [ln for ln in Path(log_path).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return default
    return lines[-1].strip()[:300] if lines else default
