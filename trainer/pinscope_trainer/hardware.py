"""Where and how fast to run: device, CPU threads and bf16 autocast, chosen for the machine at hand."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UsageError


def auto_threads() -> int:
    """CPU threads for torch: the cores other processes leave free right now, at least 1.

    On a shared machine torch's default (one thread per core) is slow: a step waits for its slowest
    thread, and a descheduled thread stalls all of them (2 threads were 3x slower than 1 at load 6 on 2 cores).
    "Right now" is measured over a fraction of a second (/proc/stat), not the 1-minute load average,
    which still counts a render that ended seconds ago (make demo trains right after rendering).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    busy = busy_cores()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except OSError:
            busy = 0.0
    return max(1, min(cores, round(cores - busy)))


def busy_cores(interval: float = 0.5) -> float | None:
    """Cores kept busy by all processes over `interval` seconds (from /proc/stat), or None off Linux."""
    import time

    def sample():
        return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]

    try:
        before = sample()
        time.sleep(interval)
        return busy_share(before, sample()) * (os.cpu_count() or 1)  # the first line counts every core
    except (OSError, ValueError, IndexError):
        return None


def busy_share(before: list, after: list) -> float:
    """The share of CPU time that was busy between two /proc/stat "cpu" lines (user nice system idle
    iowait irq softirq steal ...). Niced time counts as free: a niced process (a background render
    at nice 19, say) gives way to the model's threads. ValueError when no time passed."""
    total = sum(after[:8]) - sum(before[:8])
    if total <= 0:
        raise ValueError("no CPU time passed")

    def free(values):
        return values[1] + values[3] + (values[4] if len(values) > 4 else 0)  # nice + idle + iowait

    return 1.0 - (free(after) - free(before)) / total


def auto_bf16(arch: str, device) -> bool:
    """bf16 autocast where it pays: CUDA with bf16, or a CPU with avx512_bf16/AMX for the ViT (measured
    1.5x on this project's CPU; ResNet convolutions got slower in bf16 there, so they stay fp32)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if arch != "vit":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_device_name(name: str) -> None:
    """auto, cpu, cuda or cuda:N (whether that GPU exists is resolve_device's question)."""
    index = name[len("cuda:") :] if name.startswith("cuda:") else "0"
    if name not in ("auto", "cpu", "cuda") and not (name.startswith("cuda:") and index.isdigit()):
        raise UsageError("--device", f"must be auto, cpu, cuda or cuda:N, got {name!r}")


def resolve_device(name: str):
    import torch

    check_device_name(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device", f"{name} asked for but no CUDA GPU is available; use cpu or auto")
    return torch.device(name)


def background_thread() -> None:
    """Lower the calling thread's scheduling priority (nice 10; Linux only, where a thread has its own).

    For helper threads (decoding, overlay pictures) beside a model thread: on a machine with fewer free
    cores than threads they yield to the model instead of slowing it down."""
    import sys
    import threading

    if not sys.platform.startswith("linux"):
        return  # elsewhere setpriority(PRIO_PROCESS, id) would lower the whole process
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except OSError:
        pass  # not permitted here: run at the normal priority
