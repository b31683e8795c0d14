"""`--executor ray` on a local Ray instance with 2 CPUs: same dataset as one process, even when a
task's Ray worker is killed mid-task (the task is retried and resumes its shard; no duplicate rows),
or when the whole run is killed and started again; a finished dataset rendered again is left alone."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from pinscope_schema import GenerationSpec, validate_dataset
from scale_helpers import cli, dataset_content, start_cli, tiny_spec_dict, total_lines, write_spec

ray = pytest.importorskip("ray", reason="ray is optional: pip install -r requirements/ray.txt")

from blender_addon.dataset.pipeline import render  # noqa: E402
from blender_addon.dataset.ray_executor import Ray  # noqa: E402


def shard_workers(out: Path) -> list[tuple[int, int]]:
    """(pid, parent pid) of every PinScope shard worker rendering into `out` now (only this test's: other
    renders on the machine are none of its business)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if b"blender_addon.cli" in argv and b"--shard" in argv and any(str(out).encode() in a for a in argv):
            ppid = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("PPid:")))
            found.append((int(entry.name), ppid))
    return found


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_ray_run_killed_resumes_and_a_finished_rerun_changes_nothing(tmp_path):
    """SIGKILL of the whole `render --executor ray` run, then the same command twice (the second on the
    finished folder used to fail in the merge, leave .work/ behind and rewrite dataset.json)."""
    spec_path = write_spec(tmp_path / "tiny.json", tiny_spec_dict())
    single = tmp_path / "single"
    cli("render", "--spec", spec_path, "--out", single, "--quiet")
    out = tmp_path / "ray"
    command = ("render", "--spec", spec_path, "--out", out, "--executor", "ray", "--workers", "2", "--quiet")
    process = start_cli(*command)
    wait_until(lambda: sum(total_lines(s) for s in (out / ".work").glob("shard-*")) >= 2 or process.poll() is not None)
    process.kill()
    process.wait()
    wait_until(lambda: not shard_workers(out), timeout=60)  # the workers die with their Ray workers
    assert not shard_workers(out) and total_lines(out) == 0  # killed before the merge: nothing merged yet
    cli(*command)
    assert dataset_content(out) == dataset_content(single)
    assert validate_dataset(out) == [] and not (out / ".work").exists()
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    again = cli(*command)
    assert again.returncode == 0
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()} == before
    assert not (out / ".work").exists()


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
                for pid, ppid in shard_workers(out):
                    if b"0/2" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        os.kill(ppid, signal.SIGKILL)
                        killed.append(ppid)
                        return
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_one_task_worker, daemon=True)
    watcher.start()
    summary = render(GenerationSpec.from_dict(data), out, Ray(2), quiet=True)
    watcher.join(timeout=5)
    assert killed, "no task worker was killed; the test did not exercise a retry"
    assert summary.workers == 2 and summary.executor == "ray" and summary.rendered == 14
    assert dataset_content(out) == dataset_content(single)  # also asserts no duplicate rows
    assert validate_dataset(out) == []
    assert not (out / ".work").exists()
