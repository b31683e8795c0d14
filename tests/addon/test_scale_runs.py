"""Whole runs through the real CLI: kill-and-resume, --workers 2, shards + merge, bad input.

Every test compares against one uninterrupted single-process run of the same tiny spec (Workbench,
64 x 32, 12 samples): same rows, same mask hashes, same pixels (see scale_helpers.dataset_content).
"""

from __future__ import annotations

import json
import time

import pytest
from pinscope_schema import validate_dataset
from scale_helpers import cli, dataset_content, start_cli, tiny_spec_dict, total_lines, write_spec


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    return write_spec(tmp_path_factory.mktemp("spec") / "tiny.json", tiny_spec_dict())


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, spec_path):
    out = tmp_path_factory.mktemp("baseline") / "single"
    cli("render", "--spec", spec_path, "--out", out, "--quiet")
    assert validate_dataset(out) == []
    return dataset_content(out)


def wait_for_rows(process, folder, rows: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while total_lines(folder) < rows and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def test_sigkill_at_several_points_then_resume_equals_uninterrupted(tmp_path, spec_path, baseline):
    out = tmp_path / "killed"
    kills = 0
    # Kill during start-up (before any row), right after the first row, and after five rows.
    for rows, delay in ((0, 0.3), (1, 0.0), (5, 0.05)):
        process = start_cli("render", "--spec", spec_path, "--out", out, "--quiet")
        wait_for_rows(process, out, rows)
        time.sleep(delay)
        if process.poll() is None:
            process.kill()  # SIGKILL: no handler runs, files may be half-written
            kills += 1
        process.wait()
    assert kills >= 2, "the run finished before it could be killed; make the spec larger"
    assert total_lines(out) < 12
    resumed = cli("render", "--spec", spec_path, "--out", out)
    assert dataset_content(out) == baseline
    assert validate_dataset(out) == []
    before = {p: p.read_bytes() for p in out.rglob("*.jsonl")}
    cli("render", "--spec", spec_path, "--out", out, "--quiet")  # complete: nothing left to do
    assert {p: p.read_bytes() for p in out.rglob("*.jsonl")} == before
    assert resumed.returncode == 0


def test_sigkill_of_parallel_run_then_resume(tmp_path, spec_path, baseline):
    out = tmp_path / "parallel-killed"
    process = start_cli("render", "--spec", spec_path, "--out", out, "--workers", "2", "--quiet")
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        shards = list((out / ".work").glob("shard-*"))
        if sum(total_lines(s) for s in shards) >= 2:
            break
        time.sleep(0.02)
    process.kill()  # the workers die with it (PR_SET_PDEATHSIG); their shard folders stay for resume
    process.wait()
    cli("render", "--spec", spec_path, "--out", out, "--workers", "2", "--quiet")
    assert dataset_content(out) == baseline
    assert validate_dataset(out) == []
    assert not (out / ".work").exists()


def test_workers_2_equals_workers_1(tmp_path, spec_path, baseline):
    out = tmp_path / "two"
    progress = tmp_path / "progress.jsonl"
    cli("render", "--spec", spec_path, "--out", out, "--workers", "2", "--progress-jsonl", progress)
    assert dataset_content(out) == baseline
    assert validate_dataset(out) == []
    assert not (out / ".work").exists()
    events = [json.loads(line) for line in progress.read_text().splitlines()]
    assert {key: events[-1][key] for key in ("done", "total", "already")} == {"done": 12, "total": 12, "already": 0}
    assert [e["done"] for e in events] == sorted(e["done"] for e in events)
    assert {"split", "index"} <= set(events[-1])  # the same event shape as one process writes
    # a second run of the finished folder (a second `make demo`) has nothing to do and changes nothing
    before = {p: p.read_bytes() for p in out.rglob("*.jsonl")}
    cli("render", "--spec", spec_path, "--out", out, "--workers", "2", "--quiet")
    assert {p: p.read_bytes() for p in out.rglob("*.jsonl")} == before
    assert validate_dataset(out) == [] and not (out / ".work").exists()


def test_workers_restarted_every_k_samples_give_the_same_dataset(tmp_path, spec_path, baseline):
    from pinscope_schema import load_spec

    from blender_addon.dataset.executors import Processes
    from blender_addon.dataset.pipeline import render

    summary = render(load_spec(spec_path), tmp_path / "restarted", Processes(2, restart_every=4), quiet=True)
    assert summary.processes >= 4  # 12 samples, 2 shards, at most 4 samples per process
    assert summary.restarts == 0, summary.failures  # planned restarts are not crash restarts
    assert dataset_content(tmp_path / "restarted") == baseline


def test_three_shards_merged_equal_a_single_run(tmp_path, spec_path, baseline):
    parts = [tmp_path / f"part{i}" for i in range(3)]
    for i, part in enumerate(parts):
        cli("render", "--spec", spec_path, "--out", part, "--shard", f"{i}/3", "--quiet")
        assert json.loads((part / "dataset.json").read_text())["shard"] == [i, 3]
        assert validate_dataset(part) == []
    cli("merge", *parts, "--out", tmp_path / "merged")
    assert dataset_content(tmp_path / "merged") == baseline
    assert validate_dataset(tmp_path / "merged") == []


def test_resume_skips_what_the_output_has_and_reports_a_corrupted_row(tmp_path, spec_path, baseline):
    out = tmp_path / "damaged"
    cli("render", "--spec", spec_path, "--out", out, "--quiet")
    meta = out / "train" / "metadata.jsonl"
    lines = meta.read_text().splitlines(keepends=True)
    lines[2] = '{"file_name": "images/000002.png", "label": 17}\n'  # a corrupted row in the middle
    meta.write_text("".join(lines))
    result = cli("render", "--spec", spec_path, "--out", out)
    assert "train/metadata.jsonl line 3" in result.stderr, result.stderr[-1500:]
    assert dataset_content(out) == baseline
    assert validate_dataset(out) == []


@pytest.mark.parametrize("shard", ["5/4", "4/4", "x/2", "1/0"])
def test_bad_shard_is_one_line_exit_2_and_touches_nothing(tmp_path, spec_path, shard):
    out = tmp_path / "never"
    result = cli("render", "--spec", spec_path, "--out", out, "--shard", shard, check=False)
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --shard: must be i/N"), result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "value", "field"), [("--workers", "0", "--workers"), ("--restart-every", "0", "--restart-every")]
)
def test_bad_worker_options_are_one_line_exit_2(tmp_path, spec_path, option, value, field):
    result = cli(
        "render", "--spec", spec_path, "--out", tmp_path / "never", "--workers", "2", option, value, check=False
    )
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: must be >= 1"), result.stderr
    assert not (tmp_path / "never").exists()


def test_merge_of_different_specs_is_refused(tmp_path, spec_path):
    other = write_spec(tmp_path / "other.json", {**tiny_spec_dict(), "seed": 7})
    cli("render", "--spec", spec_path, "--out", tmp_path / "a", "--shard", "0/2", "--quiet", "--limit", "1")
    cli("render", "--spec", other, "--out", tmp_path / "b", "--shard", "1/2", "--quiet", "--limit", "1")
    result = cli("merge", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "merged", check=False)
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "different spec" in lines[0], result.stderr
    assert not (tmp_path / "merged").exists()


def test_merge_with_a_gap_names_the_missing_shard(tmp_path, spec_path):
    for i in (0, 2):
        cli("render", "--spec", spec_path, "--out", tmp_path / f"p{i}", "--shard", f"{i}/3", "--quiet")
    result = cli("merge", tmp_path / "p0", tmp_path / "p2", "--out", tmp_path / "merged", check=False)
    assert result.returncode == 2
    assert "gap: shard 1/3 missing" in result.stderr
