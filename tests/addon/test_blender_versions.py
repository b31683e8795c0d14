"""Renders agree across Blender versions: this Blender's renders against committed bpy 5.0.1 renders.

`make test-matrix` runs this on bpy 4.2, 4.5 and 5.0. The same small spec is rendered with Workbench
and with Cycles (96 x 32, 8 spp) through the pipeline; every image and twin must be within the stated
tolerance of the 5.0.1 file of the same name, masks and rows (boxes, labels, jitter) must be equal.
Tolerances, in 8-bit levels (measured: docs/rendering.md, "Supported Blender versions"):

    Workbench  mean |diff| <= 1.5, max |diff| <= 12   (4.2 renders about one level brighter)
    Cycles     mean |diff| <= 0.05, max |diff| <= 8   (a few pixels differ by a few levels)

The references were made with `.venvs/blender/bin/python tests/addon/test_blender_versions.py --write`
(bpy 5.0.1); regenerate them only when a change is meant to alter the renders.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from pinscope_schema import GenerationSpec, ReferenceRow, SampleRow, read_rows

from blender_addon.core.png import read_png
from blender_addon.dataset.executors import Inline
from blender_addon.dataset.pipeline import render
from blender_addon.scene.build import clear_scene

REFERENCES = Path(__file__).resolve().parent / "data" / "renders-bpy-5.0"
TOLERANCE = {"WORKBENCH": (1.5, 12), "CYCLES": (0.05, 8)}  # engine -> (mean |diff|, max |diff|) in levels
PARTS = ("train", "reference")


def version_spec(engine: str) -> GenerationSpec:
    return GenerationSpec.from_dict(
        {
            "name": "version-check",
            "render": {"engine": engine, "width": 96, "height": 32, "samples": 8},
            "dataset": {"train": 6, "validation": 0, "test": 0, "reference": 1},
        }
    )


def render_set(out: Path) -> None:
    for engine in TOLERANCE:
        render(version_spec(engine), out / engine, Inline(), quiet=True)
    clear_scene()  # other test modules share this Blender process


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("versions")
    render_set(out)
    return out


def rows_without_hashes(folder: Path, part: str) -> list:
    cls = ReferenceRow if part == "reference" else SampleRow
    rows = [row.to_dict() for row in read_rows(folder / part / "metadata.jsonl", cls)]
    assert rows, f"no {part} rows in {folder}"
    return [{k: v for k, v in row.items() if k != "sha256"} for row in rows]


@pytest.mark.parametrize("engine", sorted(TOLERANCE))
def test_renders_agree_with_bpy_5_0_within_the_stated_tolerance(rendered, engine):
    mean_limit, max_limit = TOLERANCE[engine]
    expected = sorted(p.relative_to(REFERENCES / engine) for p in (REFERENCES / engine).rglob("*.png"))
    assert len(expected) >= 12, "reference renders missing"
    assert sorted(p.relative_to(rendered / engine) for p in (rendered / engine).rglob("*.png")) == expected
    for rel in expected:
        ours, theirs = read_png(rendered / engine / rel).astype(int), read_png(REFERENCES / engine / rel).astype(int)
        assert ours.shape == theirs.shape, rel
        if rel.parts[1] == "masks":  # PinScope's own geometry, not Blender's: exact
            assert np.array_equal(ours, theirs), rel
            continue
        diff = np.abs(ours - theirs)
        assert diff.mean() <= mean_limit and diff.max() <= max_limit, (str(rel), diff.mean(), diff.max())
    for part in PARTS:
        assert rows_without_hashes(rendered / engine, part) == rows_without_hashes(REFERENCES / engine, part)


def write_references() -> None:
    """Render the reference set with this Blender into tests/addon/data (the files, not the folders' json)."""
    tmp = REFERENCES.with_name(REFERENCES.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    render_set(tmp)
    for engine in TOLERANCE:
        for junk in (tmp / engine).glob("*.json"):
            junk.unlink()
        for part in ("validation", "test"):
            shutil.rmtree(tmp / engine / part, ignore_errors=True)
    shutil.rmtree(REFERENCES, ignore_errors=True)
    tmp.rename(REFERENCES)
    print(f"wrote {sum(1 for _ in REFERENCES.rglob('*.png'))} reference renders to {REFERENCES}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: test_blender_versions.py --write")
    write_references()
