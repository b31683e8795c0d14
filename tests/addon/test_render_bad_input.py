"""Render-side bad input through the real CLI: one line `error: <field>: <problem>`, exit 2, nothing changed.

Each case runs against a finished dataset (and, where it names a new folder, a folder that must not
appear); every file under the test's folder -- dataset.json included -- must keep its bytes and mtime.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from scale_helpers import REPO, cli, tiny_spec_dict, write_spec


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny dataset and its spec, rendered once for every case."""
    root = tmp_path_factory.mktemp("bad-input")
    spec = write_spec(root / "spec.json", tiny_spec_dict(train=2, validation=1, test=1, reference=1))
    cli("render", "--spec", spec, "--out", root / "data", "--quiet")
    return root, spec


def snapshot(root) -> dict:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def deep_json(depth: int) -> str:
    return '{"grid": ' + "[" * depth + "]" * depth + "}"


def deep_toml(depth: int) -> str:
    return "name = " + "[" * depth + "]" * depth + "\n"


def spec_file(root, kind: str):
    """A spec file that must be refused, by kind."""
    if kind == "dev-zero":
        return "/dev/zero"
    writers = {
        "deep.json": lambda: deep_json(100_000),
        "deep.toml": lambda: deep_toml(100_000),
        "huge.json": lambda: json.dumps({"name": "x" * (5 * 1024 * 1024)}),
        "digits.json": lambda: '{"seed": ' + "7" * 5000 + "}",
        "digits.toml": lambda: "seed = " + "7" * 5000 + "\n",
    }
    path = root / f"bad-{kind}"
    path.write_text(writers[kind]())
    return path


SPEC_CASES = [
    ("deep.json", "error: spec: ", "nested too deeply"),
    ("deep.toml", "error: spec: ", "nested too deeply"),
    ("dev-zero", "error: spec: /dev/zero ", "not a regular file"),
    ("huge.json", "error: spec: ", "larger than 4 MiB"),
    ("digits.json", "error: spec: ", "an integer has more than 4300 digits"),
    ("digits.toml", "error: spec: ", "an integer has more than 4300 digits"),
]


def one_line_exit_2(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize(("kind", "start", "problem"), SPEC_CASES)
def test_bad_spec_files_are_refused_before_anything_is_touched(finished, tmp_path, kind, start, problem):
    root, _spec = finished
    before = snapshot(root)
    for out in (root / "data", tmp_path / "new"):
        line = one_line_exit_2(cli("render", "--spec", spec_file(tmp_path, kind), "--out", out, check=False))
        assert line.startswith(start) and problem in line, line
    assert snapshot(root) == before and not (tmp_path / "new").exists()


def test_empty_out_is_refused_and_writes_nothing_in_the_working_folder(finished, tmp_path):
    _root, spec = finished
    result = subprocess.run(
        [sys.executable, "-m", "blender_addon.cli", "render", "--spec", str(spec), "--out", ""],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "shared")])),
    )
    assert one_line_exit_2(result) == "error: --out: must name a dataset folder, got an empty path"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "where", "expected"),
    [
        ("--progress-jsonl", "missing/progress.jsonl", "error: --progress-jsonl: folder {tmp}/missing does not exist"),
        ("--skip-done-in", "missing", "error: --skip-done-in: {tmp}/missing is not a dataset folder (no dataset.json)"),
    ],
)
def test_missing_folders_of_options_are_refused_before_dataset_json_is_touched(
    finished, tmp_path, option, where, expected
):
    root, spec = finished
    before = snapshot(root)
    for out in (root / "data", tmp_path / "new"):
        result = cli("render", "--spec", spec, "--out", out, option, tmp_path / where, check=False)
        assert one_line_exit_2(result) == expected.format(tmp=tmp_path)
    assert snapshot(root) == before and not (tmp_path / "new").exists() and not (tmp_path / "missing").exists()


def test_skip_done_in_a_folder_of_another_spec_is_refused(finished, tmp_path):
    root, spec = finished
    other = write_spec(
        tmp_path / "other.json", {**tiny_spec_dict(train=2, validation=1, test=1, reference=1), "seed": 3}
    )
    before = snapshot(root)
    line = one_line_exit_2(
        cli("render", "--spec", other, "--out", tmp_path / "new", "--skip-done-in", root / "data", check=False)
    )
    assert line == f"error: --skip-done-in: {root / 'data'} holds a dataset of a different spec"
    assert snapshot(root) == before and not (tmp_path / "new").exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_finished_dataset_on_a_read_only_file_system_names_out(finished, tmp_path, workers):
    """A real read-only mount (a private mount namespace, no root needed): exit 2 naming --out."""
    root, spec = finished
    data = tmp_path / "data"
    shutil.copytree(root / "data", data)
    before = snapshot(data)
    mount_ro = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && shift && exec "$@"'
    command = [sys.executable, "-m", "blender_addon.cli", "render", "--spec", str(spec), "--out", str(data)]
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", mount_ro, str(data), "run", *command, "--workers", workers],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PINSCOPE_THREADS="1"),
    )
    assert one_line_exit_2(result) == f"error: --out: cannot write to {data}: read-only file system ({data})"
    assert snapshot(data) == before
