"""Disk full while rendering: a one-line error, a folder valid up to the last whole sample, resume.

The failure is a real one from the operating system, not a mock: the CLI runs as a child process with
RLIMIT_FSIZE set (and SIGXFSZ ignored), so a write that would make a file larger than the limit is cut
short or fails with EFBIG, as a full disk cuts writes short or fails them with ENOSPC. The limit is per
file, so the test picks it from an uninterrupted run's file sizes to decide which write fails:
metadata.jsonl's append after a few whole samples, or Blender's PNG of the first image.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pinscope_schema import validate_dataset
from scale_helpers import REPO, cli, dataset_content, tiny_spec_dict, write_spec

from blender_addon.dataset.worker import EXIT_FAILED

ROWS_THAT_FIT = 4


def cli_with_file_limit(limit: int, *args) -> subprocess.CompletedProcess:
    """The CLI with every file it writes capped at `limit` bytes (a write past it fails, EFBIG)."""

    def cap_file_size():  # runs in the child between fork and exec; both settings survive exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "blender_addon.cli", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ, PINSCOPE_THREADS="1"),
        preexec_fn=cap_file_size,
    )


def uninterrupted(tmp_path_factory, name: str, data: dict) -> tuple[Path, Path]:
    spec = write_spec(tmp_path_factory.mktemp(name) / "spec.json", data)
    out = spec.parent / "uninterrupted"
    cli("render", "--spec", spec, "--out", out, "--quiet")
    assert validate_dataset(out) == []
    return spec, out


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """12 train samples at 64 x 32: PNGs of about 3 KB, metadata rows of about 1 KB."""
    return uninterrupted(tmp_path_factory, "small", tiny_spec_dict(train=12, validation=0, test=0, reference=0))


def one_line_failure(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == EXIT_FAILED, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "run the same command" in last, result.stderr[-3000:]
    return last


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def limit_after_rows(root: Path, rows: int) -> int:
    """A limit that lets `rows` whole rows into train/metadata.jsonl and cuts the next one in half."""
    lines = (root / "train" / "metadata.jsonl").read_bytes().splitlines(keepends=True)
    limit = sum(map(len, lines[:rows])) + len(lines[rows]) // 2
    others = [p.stat().st_size for p in files_under(root) if p.name != "metadata.jsonl"]
    assert max(others) < limit, "another file would hit the limit first; let more rows fit"
    return limit


def test_disk_full_on_a_row_append_keeps_whole_samples_and_resumes(tmp_path, small):
    spec, reference = small
    out = tmp_path / "full"
    limit = limit_after_rows(reference, ROWS_THAT_FIT)

    last = one_line_failure(cli_with_file_limit(limit, "render", "--spec", spec, "--out", out, "--quiet"))

    assert "metadata.jsonl" in last
    assert validate_dataset(out, require_complete=False) == []  # no torn row, no orphan, counts agree
    written, expected = dataset_content(out), dataset_content(reference)
    assert sorted(written["train"]) == list(range(ROWS_THAT_FIT))
    assert written["train"] == {i: expected["train"][i] for i in range(ROWS_THAT_FIT)}  # rows and pixels whole
    assert not [p for p in files_under(out) if ".tmp" in p.name or p.name.startswith(".region")]

    cli("render", "--spec", spec, "--out", out, "--quiet")  # space is back: the same command resumes
    assert dataset_content(out) == expected
    assert validate_dataset(out) == []


def test_disk_full_while_blender_writes_an_image_is_caught_not_kept(tmp_path_factory, tmp_path):
    # Blender says FINISHED even when its PNG was cut short; such an image must never get a row.
    spec, reference = uninterrupted(
        tmp_path_factory, "large", tiny_spec_dict(train=3, validation=0, test=0, reference=0, width=256, height=128)
    )
    images = [p.stat().st_size for p in files_under(reference) if p.parent.name in ("images", "twins")]
    manifest = (reference / "dataset.json").stat().st_size
    assert manifest + 1024 < min(images), "the images must be larger than dataset.json for this test"
    out = tmp_path / "full"

    last = one_line_failure(cli_with_file_limit(manifest + 1024, "render", "--spec", spec, "--out", out, "--quiet"))

    assert "image written incompletely" in last
    assert validate_dataset(out, require_complete=False) == []
    assert (out / "dataset.json").is_file()
    assert not [p for p in files_under(out) if p.suffix == ".png"]  # no truncated image, no temporary
    cli("render", "--spec", spec, "--out", out, "--quiet")
    assert dataset_content(out) == dataset_content(reference)
    assert validate_dataset(out) == []


def test_disk_full_in_parallel_workers_is_one_line_and_resumes(tmp_path, small):
    spec, reference = small
    out = tmp_path / "full"
    # each shard folder holds 6 of the 12 rows; cut the 4th of a shard's rows
    limit = limit_after_rows(reference, ROWS_THAT_FIT - 1)

    result = cli_with_file_limit(limit, "render", "--spec", spec, "--out", out, "--quiet", "--workers", "2")

    last = one_line_failure(result)
    assert "metadata.jsonl" in last
    for shard in sorted((out / ".work").glob("shard-*-of-002")):
        if shard.is_dir():
            assert validate_dataset(shard, require_complete=False) == [], shard
    cli("render", "--spec", spec, "--out", out, "--quiet", "--workers", "2")
    assert dataset_content(out) == dataset_content(reference)
    assert validate_dataset(out) == []
    assert not (out / ".work").exists()


def test_png_complete_tells_a_cut_short_file_from_a_whole_one(tmp_path):
    from blender_addon.core.png import png_complete, write_png

    whole = tmp_path / "whole.png"
    write_png(whole, [[0, 1, 2], [3, 4, 5]])
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:-1])
    assert png_complete(whole)
    assert not png_complete(cut)
    assert not png_complete(tmp_path / "absent.png")


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 96 KiB tmpfs (a disk that really fills up: ENOSPC); needs the right to mount, as root has."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:  # the RLIMIT_FSIZE tests above cover the same paths without this right
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_disk_that_really_fills_up(small_tmpfs, small):
    spec, reference = small
    out = small_tmpfs / "ds"

    result = cli("render", "--spec", spec, "--out", out, "--quiet", check=False)

    one_line_failure(result)
    assert validate_dataset(out, require_complete=False) == []
    written, expected = dataset_content(out), dataset_content(reference)
    assert 0 < len(written["train"]) < 12
    assert written["train"] == {i: expected["train"][i] for i in written["train"]}
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_tmpfs)], check=True)
    cli("render", "--spec", spec, "--out", out, "--quiet")
    assert dataset_content(out) == expected
    assert validate_dataset(out) == []
