"""Progress reporting for long renders: a bar with ETA on stderr, and machine-readable JSON lines.

Pure (no bpy). The bar redraws in place on a terminal and prints a plain line every few seconds
otherwise (logs, CI); `--progress-jsonl` writes one JSON object per finished sample for the add-on's
modal operator and the worker pool.
"""

from __future__ import annotations

import json
import sys
import time


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
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
        return (f"{self.label} [{bar}] {done}/{self.total} {pct:5.1f}% {rate:.2f} samples/s "
                f"elapsed {format_duration(elapsed)} ETA {eta}")

    def update(self, done: int, final: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        every = 0.2 if self.interactive else 5.0
        if not final and now - self.last_draw < every:
            return
        self.last_draw = now
        if self.interactive:
            self.stream.write("\r" + self.text(done) + ("\n" if final else ""))
        else:
            self.stream.write(self.text(done) + "\n")
        self.stream.flush()


class JsonProgress:
    """One JSON line per finished sample, to stdout ('-') or appended to a file."""

    def __init__(self, target: str | None):
        self.target = target
        self._file = None
        if target and target != "-":
            self._file = open(target, "a", encoding="utf-8")

    def emit(self, **event) -> None:
        if not self.target:
            return
        line = json.dumps(event, separators=(",", ":")) + "\n"
        stream = self._file if self._file is not None else sys.stdout
        stream.write(line)
        stream.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
