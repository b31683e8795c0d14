"""Render Dataset's background job (ui/jobs.py): command lines, progress, cancel and resume.

The job runs the repository's own CLI (`python -m blender_addon.cli`, the bpy-module fallback) on
tiny 64 px Workbench specs; the folder it leaves is checked with the contract's validator.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pinscope_schema as schema
import pytest

from blender_addon.dataset import worker
from blender_addon.dataset.progress import read_progress
from blender_addon.ui import jobs

REPO = Path(__file__).resolve().parents[2]
ADDON_DIR = REPO / "blender_addon"


def tiny_spec_json(train=3, name="ui-jobs-test", **grid) -> str:
    data = schema.GenerationSpec().to_dict()
    data["name"] = name
    data["render"].update(engine="WORKBENCH", width=64, height=32, samples=1)
    data["dataset"].update(train=train, validation=1, test=1, reference=1)
    data["grid"].update(grid)
    return json.dumps(data)


def test_progress_file_reads_the_last_complete_line(tmp_path):
    path = tmp_path / "progress.jsonl"
    assert read_progress(path) == (0, None)
    path.write_bytes(b'{"done": 1, "total": 6}\nnot json\n{"done": 2, "total": 6}\n{"done": 3, "to')
    assert read_progress(path) == (2, 6)  # the torn last line is still being written


def test_render_command_uses_the_binary_or_this_python(tmp_path):
    args = jobs.render_args(Path("s.json"), Path("out"), Path("p.jsonl"), workers=3)
    assert args[-2:] == ["--workers", "3"] and "--progress-jsonl" in args
    command = worker.cli_prefix("/opt/blender/blender", tmp_path / "pinscope") + args
    assert command[:6] == [
        "/opt/blender/blender",
        "--background",
        "--factory-startup",
        "--python-exit-code",
        "1",
        "--python",
    ]
    assert command[6] == str(tmp_path / "pinscope" / "cli.py") and command[7] == "--" and command[8] == "render"
    command = worker.cli_prefix("", tmp_path / "pinscope") + args
    env = worker.cli_env(addon_dir=tmp_path / "pinscope")
    assert command[:3] == [sys.executable, "-m", "pinscope.cli"]
    assert env["PYTHONPATH"].split(":")[0] == str(tmp_path)


def test_a_job_renders_a_valid_dataset_and_reports_progress(tmp_path):
    seen = []
    job = jobs.DatasetJob(tiny_spec_json(), tmp_path / "data", ADDON_DIR)
    status = job.wait(timeout_s=240, on_progress=lambda s: seen.append((s.done, s.total)))
    job.close()
    assert status.errors == [] and status.finished and not status.cancelled
    assert status.total and status.done == status.total and status.fraction == 1.0
    assert seen[-1] == (status.total, status.total) and len(seen) >= 2
    assert schema.validate_dataset(tmp_path / "data") == []


def test_bad_spec_fails_with_the_one_line_error(tmp_path):
    data = json.loads(tiny_spec_json())
    data["camera"]["rig"] = "fisheye"
    job = jobs.DatasetJob(json.dumps(data), tmp_path / "data", ADDON_DIR)
    status = job.wait(timeout_s=60)
    job.close()
    assert job.process.returncode == 2
    assert len(status.errors) == 1 and "spec.camera.rig: must be one of qeu3, centre" in status.errors[0]


def test_cancel_keeps_finished_samples_and_a_rerun_resumes(tmp_path):
    out = tmp_path / "data"
    spec_json = tiny_spec_json(train=12, name="ui-jobs-cancel")
    job = jobs.DatasetJob(spec_json, out, ADDON_DIR)
    deadline = time.monotonic() + 180
    while job.poll().done < 2 and not job.poll().finished and time.monotonic() < deadline:
        time.sleep(0.1)
    job.cancel()
    stopped = job.poll()
    job.close()
    assert stopped.cancelled and stopped.finished and stopped.errors == []
    assert 2 <= stopped.done < stopped.total
    assert schema.validate_dataset(out, require_complete=False) == []
    first_images = {p: p.stat().st_mtime_ns for p in (out / "train" / "images").glob("*.png")}
    assert first_images

    job = jobs.DatasetJob(spec_json, out, ADDON_DIR)
    status = job.wait(timeout_s=240)
    job.close()
    assert status.errors == [] and status.done == status.total
    assert schema.validate_dataset(out) == []
    assert len(list(schema.read_rows(out / "train" / "metadata.jsonl"))) == 12
    # Samples finished before the cancel were kept, not rendered again.
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in first_images.items())


@pytest.mark.skipif(shutil.which("blender") is None, reason="no blender binary on PATH (CI installs one)")
def test_a_job_runs_through_a_real_blender_binary(tmp_path):
    """The path a Blender user takes: `blender --background --python <add-on>/cli.py -- render ...`."""
    binary = shutil.which("blender")
    job = jobs.DatasetJob(tiny_spec_json(train=2, name="ui-jobs-binary"), tmp_path / "data", ADDON_DIR, binary)
    status = job.wait(timeout_s=240)
    job.close()
    assert job.command[:2] == [binary, "--background"]
    assert status.errors == [] and status.total and status.done == status.total
    assert schema.validate_dataset(tmp_path / "data") == []
