"""Shared helpers of the scale tests (test_scale_*.py): run the real CLI, compare dataset folders.

Two folders are "the same dataset" when every part holds the same rows -- whole, content hashes of
image, twin and mask included (renders carry no date stamps, so equal pixels give equal bytes) -- and
every file decodes to the same pixels.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from blender_addon.core.png import read_png

REPO = Path(__file__).resolve().parents[2]
PARTS = ("train", "validation", "test", "reference")


def tiny_spec_dict(train=6, validation=2, test=2, reference=2, **render) -> dict:
    """Workbench at 64 x 32, one camera: a sample costs a few hundredths of a second."""
    return {
        "render": {"engine": "WORKBENCH", "width": 64, "height": 32, **render},
        "camera": {"rig": "centre"},
        "dataset": {"train": train, "validation": validation, "test": test, "reference": reference},
    }


def write_spec(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def cli(*args, check=True, timeout=240, env=None) -> subprocess.CompletedProcess:
    """Run `python -m blender_addon.cli ARGS` under this (bpy) interpreter, as a user would."""
    full_env = dict(os.environ, **(env or {}))
    full_env.setdefault("PINSCOPE_THREADS", "1")
    result = subprocess.run(
        [sys.executable, "-m", "blender_addon.cli", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"cli {' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def start_cli(*args, env=None) -> subprocess.Popen:
    full_env = dict(os.environ, **(env or {}))
    full_env.setdefault("PINSCOPE_THREADS", "1")
    return subprocess.Popen(
        [sys.executable, "-m", "blender_addon.cli", *map(str, args)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=full_env,
    )


def pixels_digest(path: Path) -> str:
    return hashlib.sha256(np.ascontiguousarray(read_png(path)).tobytes()).hexdigest()[:16]


def dataset_content(root: Path) -> dict:
    """{part: {index: (row, {file role: pixel digest})}} of a dataset folder."""
    content = {}
    for part in PARTS:
        rows = {}
        path = root / part / "metadata.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
            row = json.loads(line)
            assert row["index"] not in rows, f"{part}: duplicate row for sample {row['index']}"
            files = {key: row.get(key) for key in ("file_name", "twin_file", "mask_file") if row.get(key)}
            rows[row["index"]] = (row, {key: pixels_digest(root / part / rel) for key, rel in files.items()})
        content[part] = rows
    return content


def metadata_lines(root: Path, part: str) -> int:
    try:
        return (root / part / "metadata.jsonl").read_bytes().count(b"\n")
    except OSError:
        return 0


def total_lines(root: Path) -> int:
    return sum(metadata_lines(root, part) for part in PARTS)
