"""How to start one more PinScope render process: its command line, its environment, its shard lock.

No bpy needed (it is only asked for the running Blender's binary path). Every front door that starts
a render process builds it here: the processes and Ray executors (one worker per shard) and the
panel's background job (ui/jobs.py), so all of them run the same CLI the same way:
  - bpy module:      `sys.executable -m blender_addon.cli render ...`
  - inside Blender:  `bpy.app.binary_path --background --factory-startup --python-exit-code 1
                      --python <add-on>/cli.py -- render ...`
Why processes and not threads or multiprocessing: bpy is one scene per process and not fork-safe; a
fresh interpreter per worker is what Blender supports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

# What a PinScope render process's exit code means: the CLI returns these, the executors act on them.
EXIT_FAILED = 1  # a write failed, or a worker could not finish its shard: fix the cause, run again to resume
EXIT_BAD_INPUT = 2  # a one-line error about the input, nothing written: retrying cannot help
EXIT_INTERRUPTED = 130  # stopped after the sample in hand (Ctrl+C, SIGTERM, Cancel): run again to resume

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the add-on package (blender_addon/ in the repository)


def running_blender() -> str:
    """The Blender executable this add-on runs in; '' under the bpy module (or without bpy)."""
    try:
        import bpy  # optional: this module is imported without Blender too
    except ImportError:
        return ""
    return bpy.app.binary_path or ""


def cli_prefix(blender: str | None = None, addon_dir: Path = PACKAGE_DIR) -> list[str]:
    """The command that starts the add-on's CLI: through a Blender binary, or this interpreter's bpy module."""
    blender = running_blender() if blender is None else blender
    if blender:
        return [
            blender,
            "--background",
            "--factory-startup",
            "--python-exit-code",
            "1",
            "--python",
            str(addon_dir / "cli.py"),
            "--",
        ]
    return [sys.executable, "-m", f"{addon_dir.name}.cli"]


def cli_env(threads: int | None = None, addon_dir: Path = PACKAGE_DIR) -> dict:
    """Environment of a render process: the add-on's parent folder importable (for `-m`), render threads capped."""
    env = dict(os.environ)
    parent = str(addon_dir.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (parent, env.get("PYTHONPATH", "")) if p)
    if threads:
        env["PINSCOPE_THREADS"] = str(threads)
    return env


def _die_with_parent():  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes  # only here: the child of a Linux parent asks to die with it

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_locked(command: list[str], shard_dir: Path, log_path: Path, threads: int | None = None) -> subprocess.Popen:
    """Start a worker holding an exclusive lock on its shard folder (waits for a leftover holder to end).

    The lock file's descriptor is inherited by the worker for its whole life, and the worker dies with
    its launcher on Linux, so a retried or restarted worker never writes into a shard folder together
    with a leftover one. `threads` caps the worker's render threads so N workers share the cores.
    """
    import fcntl  # POSIX only; the add-on's UI modules import this file on every platform

    shard_dir.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(shard_dir.parent / f".{shard_dir.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=cli_env(threads),
            pass_fds=(lock_fd,),
            preexec_fn=_die_with_parent,
        )
    finally:
        log.close()
        os.close(lock_fd)  # the child keeps its inherited copy, hence the lock, until it exits
