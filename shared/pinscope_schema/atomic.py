"""The one way PinScope writes a file or a folder so that a kill never leaves half of it behind a real name.

Everything is written under a temporary name in the same folder (so the final rename is atomic on
POSIX file systems), flushed to disk, then renamed into place. One naming scheme for every temporary:
`.<stem>.tmp<pid><suffix>` -- hidden, tied to the writing process, and keeping the file's extension
(Blender and PIL pick the format from it). Readers ignore dot-files, and a resumed run overwrites a
temporary a killed run left behind.

    atomic_write(path, data)            bytes or str, in one go
    write_json_atomic(path, data)       JSON, indented
    with atomic_file(path, "w") as f:   stream into it; nothing appears if the block raises
    with atomic_dir(path) as tmp:       fill a folder; it replaces `path` whole when the block ends
    temp_path_for(path)                 the temporary name, for writers we do not control (Blender)

Standard library only (the contract's rule).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path


def temp_path_for(path: str | os.PathLike) -> Path:
    """Where to write `path` before renaming it into place (same folder, so the rename is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8", durable: bool = True):
    """Open a temporary beside `path` for writing; on a clean exit fsync it and rename it to `path`.

    If the block raises (or the disk fills), the temporary is removed and `path` keeps its old content.
    `durable=False` skips the fsync: still whole-or-nothing if the process is killed (the page cache
    outlives it), not across a power cut -- for files that can be made again (predict's overlays), where
    an fsync per file would cost more than making it.
    """
    if "w" not in mode:
        raise ValueError(f"atomic_file writes a whole file: mode must contain 'w', got {mode!r}")
    path = Path(path)
    tmp = temp_path_for(path)
    binary = "b" in mode
    try:
        with open(tmp, mode, encoding=None if binary else encoding) as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str, durable: bool = True) -> None:
    """Write `data` (bytes, or str as UTF-8) to `path` atomically (see atomic_file for `durable`)."""
    binary = isinstance(data, (bytes, bytearray, memoryview))
    with atomic_file(path, "wb" if binary else "w", durable=durable) as f:
        f.write(data)


def write_json_atomic(path: str | os.PathLike, data, indent: int | None = 2) -> None:
    """JSON to `path` atomically (indented, ending in a newline)."""
    atomic_write(path, json.dumps(data, indent=indent) + "\n")


def replace_dir(tmp: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Move the finished folder `tmp` to `path`, replacing what is there (the old folder is removed last,
    so until the final rename a reader sees the old folder whole, and afterwards the new one)."""
    tmp, path = Path(tmp), Path(path)
    old = path.with_name(f".{path.name}.old{os.getpid()}")
    if old.exists():
        shutil.rmtree(old)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    if old.exists():
        shutil.rmtree(old)
    return path


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield an empty temporary folder beside `path`; on a clean exit it replaces `path` whole.

    Used for checkpoint folders: a kill leaves either the previous checkpoint or the new one, never a mix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, path)
