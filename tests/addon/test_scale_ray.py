"""`--executor ray` on a local Ray instance with 2 CPUs: same dataset as one process, even when a
task's Ray worker is killed mid-task (the task is retried and resumes its shard; no duplicate rows)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from pinscope_schema import GenerationSpec, validate_dataset
from scale_helpers import cli, dataset_content, tiny_spec_dict, total_lines, write_spec

ray = pytest.importorskip("ray", reason="ray is optional: pip install -r requirements/ray.txt")

from blender_addon.dataset.ray_executor import render_with_ray  # noqa: E402


def shard_workers() -> list[tuple[int, int]]:
    """(pid, parent pid) of every PinScope shard worker process running now."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if b"blender_addon.cli" in argv and b"--shard" in argv:
            ppid = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("PPid:")))
            found.append((int(entry.name), ppid))
    return found


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_executor_equals_single_run_and_survives_a_killed_worker(tmp_path, local_ray):
    data = tiny_spec_dict(train=8, validation=2, test=2, reference=2)
    spec_path = write_spec(tmp_path / "tiny.json", data)
    single = tmp_path / "single"
    cli("render", "--spec", spec_path, "--out", single, "--quiet")

    out = tmp_path / "ray"
    killed = []

    def kill_one_task_worker():
        # Once shard 0 has a row, SIGKILL the Ray worker process running its task (the parent of the
        # PinScope worker); the PinScope worker dies with it. Ray must retry the task.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if total_lines(out / ".work" / "shard-000-of-002") >= 1:
                for pid, ppid in shard_workers():
                    if b"0/2" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        os.kill(ppid, signal.SIGKILL)
                        killed.append(ppid)
                        return
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_one_task_worker, daemon=True)
    watcher.start()
    summary = render_with_ray(GenerationSpec.from_dict(data), out, shards=2, quiet=True)
    watcher.join(timeout=5)
    assert killed, "no task worker was killed; the test did not exercise a retry"
    assert summary["shards"] == 2
    assert dataset_content(out) == dataset_content(single)  # also asserts no duplicate rows
    assert validate_dataset(out) == []
    assert not (out / ".work").exists()
