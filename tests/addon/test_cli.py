"""Blender tier: the headless CLI, through the bpy module and through the real `blender` binary."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from blender_addon.contract import schema

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "specs" / "tiny.json"


def cli(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "shared")]))
    return subprocess.run(
        [sys.executable, "-m", "blender_addon.cli", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tiny_spec(tmp_path, **changes):
    data = json.loads(TINY.read_text())
    for key, value in changes.items():
        data.setdefault(key, {}).update(value)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    return path


def test_spec_default_prints_the_contract_default():
    out = cli("spec", "--default")
    assert out.returncode == 0
    assert schema.GenerationSpec.from_dict(json.loads(out.stdout)) == schema.GenerationSpec()


@pytest.mark.parametrize(
    "change,field",
    [
        ({"grid": {"rows": 0}}, "spec.grid.rows"),
        ({"grid": {"colour": 1}}, "spec.grid.colour"),
        ({"pins": {"square_width": 1.5}}, "spec.pins.square_width"),
        ({"housing": {"height": -0.1}}, "spec.housing.height"),
        (
            {"defects": {"classes": [{"name": "t", "mode": "tilt_x", "low": 80, "high": 95}]}},
            "spec.defects.classes[0].high",
        ),
        ({"render": {"engine": "LUXCORE"}}, "spec.render.engine"),
        # a user's own part and optics
        ({"camera": {"fit": True, "fill": 0}}, "spec.camera.fill"),
        ({"camera": {"fit": True, "fill": 1.2}}, "spec.camera.fill"),
        ({"camera": {"sensor_width": 0}}, "spec.camera.sensor_width"),
        ({"camera": {"working_distance": -20}}, "spec.camera.working_distance"),
        ({"camera": {"projection": "fisheye"}}, "spec.camera.projection"),
        ({"lights": {"preset": "disco"}}, "spec.lights.preset"),
        ({"housing": {"kind": "cavities", "height": 0.8, "cavity_depth": 1.0}}, "spec.housing.cavity_depth"),
        ({"housing": {"kind": "shroud", "margin": 0.5, "wall_thickness": 0.7}}, "spec.housing.wall_thickness"),
        ({"housing": {"kind": "tube"}}, "spec.housing.kind"),
        ({"camera": {"fit": True, "fit_by": "focal_length", "working_distance": 0.5}}, "spec.camera.working_distance"),
    ],
)
def test_bad_spec_is_one_line_naming_the_field(tmp_path, change, field):
    out = cli("render", "--spec", tiny_spec(tmp_path, **change), "--out", tmp_path / "data")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: "), out.stderr
    assert not (tmp_path / "data").exists()


def test_bad_paths_and_options_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = cli("render", "--spec", TINY, "--out", blocker / "data")
    assert out.returncode == 2 and out.stderr.startswith("error: --out: cannot write to"), out.stderr
    out = cli("render", "--spec", tmp_path / "missing.json", "--out", tmp_path / "d")
    assert out.returncode == 2 and out.stderr.startswith("error: spec: cannot read"), out.stderr
    out = cli("render", "--spec", TINY, "--out", tmp_path / "d", "--limit", "-1")
    assert out.returncode == 2 and out.stderr.startswith("error: --limit:"), out.stderr
    out = cli("render", "--spec", TINY, "--out", tmp_path / "d", "--limit", "2", "--workers", "2")
    assert out.returncode == 2 and out.stderr.startswith("error: --limit: works with one process only"), out.stderr
    assert not (tmp_path / "d").exists()
    out = cli("render", "--spec", TINY)
    assert out.returncode == 2 and out.stderr.startswith("error: arguments:"), out.stderr


def test_render_then_refuse_another_spec_without_touching_it(tmp_path):
    out_dir = tmp_path / "data"
    out = cli("render", "--spec", TINY, "--out", out_dir, "--quiet", "--progress-jsonl", "--limit", "3")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [e["done"] for e in events] == [1, 2, 3] and events[-1]["total"] == 3
    assert {"split", "index"} <= set(events[0])
    before = {p: p.stat().st_mtime_ns for p in out_dir.rglob("*") if p.is_file()}
    out = cli("render", "--spec", tiny_spec(tmp_path, render={"width": 48}), "--out", out_dir)
    assert out.returncode == 2 and "different spec" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert {p: p.stat().st_mtime_ns for p in out_dir.rglob("*") if p.is_file()} == before
    # The partial folder is reported as incomplete, then the same command finishes it.
    out = cli("validate", out_dir)
    assert out.returncode == 1 and "incomplete" in out.stdout
    out = cli("render", "--spec", TINY, "--out", out_dir, "--quiet", "--progress-jsonl", tmp_path / "p.jsonl")
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "p.jsonl").read_text().splitlines()[-1])["already"] == 3
    out = cli("validate", out_dir)
    assert out.returncode == 0 and out.stdout == "", out.stdout


def test_progress_bar_on_stderr(tmp_path):
    out = cli("render", "--spec", TINY, "--out", tmp_path / "data", "--limit", "2")
    assert out.returncode == 0
    assert "render [" in out.stderr and "ETA" in out.stderr and out.stdout == ""


@pytest.mark.skipif(shutil.which("blender") is None, reason="no blender binary on PATH (CI installs one)")
def test_real_blender_binary_renders_a_valid_dataset(tmp_path):
    command = [
        shutil.which("blender"),
        "--background",
        "--factory-startup",
        "--python-exit-code",
        "1",
        "--python",
        str(REPO / "blender_addon" / "cli.py"),
        "--",
    ]
    out = subprocess.run(
        command + ["render", "--spec", str(TINY), "--out", str(tmp_path / "data"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert schema.validate_dataset(tmp_path / "data") == []
    manifest = schema.read_manifest(tmp_path / "data")
    assert manifest.generator.blender_version.split(".")[0].isdigit()
    bad = subprocess.run(
        command + ["render", "--spec", str(tiny_spec(tmp_path, grid={"rows": 0})), "--out", str(tmp_path / "bad")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "error: spec.grid.rows: " in bad.stderr
