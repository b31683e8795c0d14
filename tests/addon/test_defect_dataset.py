"""Blender tier: a dataset of the new defect modes end to end, and their bad input through the real CLI.

Rendered through the pipeline (bpy module, in process): valid, every row lists all its defective pins
with boxes and the tolerance's verdict. Bad values are refused with one line naming the field, exit 2,
before anything is written.
"""

import pytest
from scale_helpers import cli, tiny_spec_dict, write_spec

from blender_addon.contract import schema
from blender_addon.dataset.executors import Inline
from blender_addon.dataset.pipeline import render
from blender_addon.scene.build import clear_scene


@pytest.fixture(scope="module", autouse=True)
def _leave_no_pinscope_scene():
    yield
    clear_scene()


def physics_dict() -> dict:
    data = tiny_spec_dict(train=6, validation=0, test=2, reference=1)
    data["render"].update(width=96, height=48)
    data["tolerance"] = {"enabled": True, "position": 0.1, "height": 0.1, "tilt": 3.0, "bend": 8.0, "twist": 10.0}
    data["defects"] = {
        "classes": [
            {"name": "ok", "mode": "ok"},
            {"name": "bent", "mode": "bend", "low": 2.0, "high": 30.0, "count_low": 3, "count_high": 3},
            {"name": "twisted", "mode": "twist", "low": 5.0, "high": 40.0, "random_sign": True},
            {"name": "crushed", "mode": "tip", "low": 0.05, "high": 0.3, "near_tolerance": 0.5},
        ]
    }
    return data


def test_a_physics_dataset_records_every_pin_and_its_verdict(tmp_path):
    spec = schema.GenerationSpec.from_dict(physics_dict())
    root = tmp_path / "data"
    render(spec, root, Inline(), quiet=True)
    assert schema.validate_dataset(root) == []
    rows = list(schema.read_rows(root / "train" / "metadata.jsonl")) + list(
        schema.read_rows(root / "test" / "metadata.jsonl")
    )
    assert {r.mode for r in rows} == {"ok", "bend", "twist", "tip"}
    for row in rows:
        if row.mode == "ok":
            assert row.defects == [] and row.ng is False and row.tolerance_margin == 1.0
            continue
        assert len(row.defects) == (3 if row.mode == "bend" else 1)
        assert row.defects[0].pin == row.pin and row.defects[0].qeu_code == row.qeu_code
        assert row.ng == any(d.ng for d in row.defects)
        assert row.tolerance_margin == pytest.approx(min(d.tolerance_margin for d in row.defects))
        for d in row.defects:
            assert d.box is not None and d.box[2] > d.box[0] and row.pin_boxes[d.pin_index] != [0, 0, 0, 0]
            assert (d.tolerance_margin < 0) == d.ng
        assert row.mode != "bend" or row.bend == row.defects[0].bend > 0
        assert row.mode != "tip" or row.tip == row.defects[0].tip > 0


BAD = [
    (
        {"mode": "bend", "low": 10, "high": 90},
        "error: spec.defects.classes[0].high: bend must be 0 <= bend < 90 degrees",
    ),
    ({"mode": "twist", "low": 0, "high": 200}, "error: spec.defects.classes[0].high: twist must be within -180..180"),
    ({"mode": "tip", "low": 0, "high": 1}, "error: spec.defects.classes[0].high: tip must be below a sixth of the pin"),
    ({"mode": "retract", "count_high": 28}, "error: spec.defects.classes[0].count_high: must be at most the pin count"),
    (
        {"mode": "retract", "count_low": 0},
        "error: spec.defects.classes[0].count_low: must be an integer 1..4096, got 0",
    ),
]


@pytest.mark.parametrize(("cls", "expected"), BAD, ids=[b[1].split(":")[1].strip() for b in BAD])
def test_bad_defects_are_one_line_exit_2_and_nothing_written(tmp_path, cls, expected):
    data = tiny_spec_dict(train=2, validation=0, test=0, reference=0)
    data["defects"] = {"classes": [{"name": "bad", **cls}]}
    result = cli("render", "--spec", write_spec(tmp_path / "spec.json", data), "--out", tmp_path / "new", check=False)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith(expected), result.stderr[-2000:]
    assert not (tmp_path / "new").exists()


def test_a_tolerance_of_zero_is_refused(tmp_path):
    data = {**tiny_spec_dict(train=2), "tolerance": {"enabled": True, "height": 0}}
    result = cli("render", "--spec", write_spec(tmp_path / "spec.json", data), "--out", tmp_path / "new", check=False)
    assert result.returncode == 2 and result.stderr.strip() == (
        "error: spec.tolerance.height: must be above 0 (a tolerance), got 0.0"
    ), result.stderr[-2000:]
    assert not (tmp_path / "new").exists()
