"""The defect-size sweep's maths and its test-only sets, on small real inputs (bench/size_sweep.py)."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from pathlib import Path

import pytest
from conftest import sample_row, tiny_spec, write_png
from pinscope_schema import DatasetWriter, GenerationSpec

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import size_sweep  # noqa: E402

BASE = json.loads((REPO / "specs" / "default.json").read_text())
TILT = next(c for c in BASE["defects"]["classes"] if c["name"] == "tilt_x")


def test_detection_counts_any_ng_call_and_false_alarms_pool_over_magnitudes():
    samples = [
        (1.0, "left", "tilt_x", "ok"),  # missed
        (1.0, "left", "tilt_x", "retract"),  # the wrong class, but the part is stopped: detected
        (1.0, "left", "ok", "ok"),
        (2.0, "left", "tilt_x", "tilt_x"),
        (2.0, "left", "ok", "tilt_y"),  # a false alarm, at another magnitude's set
        (2.0, "right", "tilt_x", "ok"),
    ]
    rates = size_sweep.detection_rates(samples, {"ok"})
    assert rates["left"]["detection"] == {1.0: 0.5, 2.0: 1.0}
    assert rates["left"]["n"] == {1.0: 2, 2.0: 1}
    assert (rates["left"]["false_alarm"], rates["left"]["ok_n"]) == (0.5, 2)
    assert rates["right"]["detection"] == {2.0: 0.0}
    assert rates["right"]["false_alarm"] is None and rates["right"]["ok_n"] == 0


def test_magnitude_at_90_interpolates_between_the_points_around_the_first_crossing():
    # 60 % at 2 deg, 100 % at 4 deg: 90 % lies three quarters of the way, at 3.5 deg
    assert size_sweep.magnitude_at({1.0: 0.2, 2.0: 0.6, 4.0: 1.0}) == pytest.approx(3.5)
    # a dip after the first crossing does not move it
    assert size_sweep.magnitude_at({1.0: 0.8, 2.0: 0.95, 3.0: 0.7, 4.0: 1.0}) == pytest.approx(1 + 0.1 / 0.15)
    assert size_sweep.magnitude_at({1.0: 0.5, 2.0: 0.9}) == 2.0  # reached exactly at a measured point


def test_magnitude_at_90_not_reached_and_reached_at_the_smallest():
    assert size_sweep.magnitude_at({0.5: 0.1, 1.0: 0.89}) is None
    assert size_sweep.magnitude_at({0.5: 0.95, 1.0: 1.0}) == 0.5
    view = {"magnitude_at_90": 0.5, "detection": {0.5: 0.95, 1.0: 1.0}}
    assert size_sweep.at_90_text(view, "deg") == "<= 0.5 deg"
    assert size_sweep.at_90_text({"magnitude_at_90": None, "detection": {0.5: 0.1}}, "deg") == "not reached"


def test_sweep_sets_are_valid_test_only_specs_with_one_fixed_magnitude_and_their_own_seeds():
    seeds = set()
    for light in ("train", "ring", "low_angle"):
        for magnitude in (0.5, 4.0):
            data = size_sweep.sweep_spec(BASE, TILT, magnitude, light, (40, 30), 0.25)
            spec = GenerationSpec.from_dict(data)
            assert (spec.dataset.train, spec.dataset.validation, spec.dataset.test) == (0, 0, 40)
            assert spec.dataset.reference == 30
            assert [(c.mode, c.low, c.high) for c in spec.defects.classes] == [
                ("ok", 0.0, 0.0),
                ("tilt_x", magnitude, magnitude),
            ]
            expected = BASE["lights"].get("preset", "seed") if light == "train" else light
            assert spec.lights.preset == expected
            seeds.add(spec.seed)
    assert len(seeds) == 6 and BASE["seed"] not in seeds


def test_the_seed_follows_the_set_not_its_place_in_the_list():
    a = size_sweep.sweep_spec(BASE, TILT, 2.0, "ring", (40, 30), 0.25)
    b = size_sweep.sweep_spec(BASE, TILT, 2.0, "ring", (60, 30), 0.5)
    assert a["seed"] == b["seed"]


@pytest.mark.parametrize(
    "mode,text,problem",
    [
        ("tilt_x", "90", "outside tilt_x's range (0 < magnitude < 90 deg)"),
        ("tilt_x", "0", "outside tilt_x's range"),
        ("retract", "0.1,2.5", "2.5 is outside retract's range (0 < magnitude <= 2 mm)"),
        ("tip", "0.4", "outside tip's range"),
        ("twist", "181", "outside twist's range (0 < magnitude <= 180 deg)"),
        ("tilt_x", " , ", "is empty"),
        ("tilt_x", "1,x", "must be numbers"),
        ("tilt_x", "1,1", "twice"),
    ],
)
def test_bad_magnitudes_are_refused_naming_the_range(mode, text, problem):
    with pytest.raises(size_sweep.Refused, match="^--magnitudes: ") as err:
        size_sweep.parse_magnitudes(text, mode, BASE)
    assert problem in str(err.value)


def test_every_default_series_is_sorted_and_inside_its_modes_range_for_the_default_pins():
    for mode in size_sweep.DEFAULT_MAGNITUDES:
        values = size_sweep.parse_magnitudes(None, mode, BASE)
        assert values == sorted(values) and len(values) >= 5


def test_cli_refuses_bad_input_in_one_line_before_rendering(tmp_path, capsys):
    assert size_sweep.main(["--run", str(tmp_path), "--mode", "tilt_x", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --run: ") and "\n" not in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as stop:
        size_sweep.main(["--run", str(tmp_path), "--mode", "tilt_x", "--test", "many"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip() == "error: --test: invalid int value: 'many'"


def test_unknown_lighting_is_refused_naming_the_presets():
    with pytest.raises(size_sweep.Refused, match="^--lights: unknown lighting 'sun'; allowed: train, seed, ring"):
        size_sweep.parse_lights("train,sun")
    assert size_sweep.parse_lights("train, ring,low_angle") == ["train", "ring", "low_angle"]


def test_summary_pools_every_view_and_the_table_shows_each_row():
    samples = {
        "ring": [
            (1.0, "left", "tilt_x", "ok"),
            (1.0, "right", "tilt_x", "tilt_x"),
            (2.0, "left", "tilt_x", "tilt_y"),
            (2.0, "right", "tilt_x", "tilt_x"),
            (2.0, "right", "ok", "ok"),
        ]
    }
    summary = size_sweep.summarise(samples, {"ok"})
    assert set(summary["ring"]) == {"left", "right", "all"}
    assert summary["ring"]["all"]["detection"] == {1.0: 0.5, 2.0: 1.0}
    assert summary["ring"]["all"]["magnitude_at_90"] == pytest.approx(1.8)
    assert summary["ring"]["left"]["magnitude_at_90"] == pytest.approx(1.9)
    text = size_sweep.table(summary, [1.0, 2.0], "deg")
    assert "| ring | all | 50 % (2) | 100 % (2) | 1.80 deg | 0.0 % of 1 |" in text.splitlines()
    assert "| ring | left | 0 % (1) | 100 % (1) | 1.90 deg | - |" in text.splitlines()
    points = size_sweep.as_json(summary)["ring"]["right"]["points"]
    assert points == [{"magnitude": 1.0, "detection": 1.0, "n": 1}, {"magnitude": 2.0, "detection": 1.0, "n": 1}]


def test_scored_samples_join_the_rows_views_with_the_runs_mistakes(tmp_path):
    # a real test split (rows through the contract's writer) and the mistakes.csv evaluate writes
    writer = DatasetWriter(tmp_path / "set", tiny_spec(train=0, validation=0, test=4), blender_version="test")
    views = {0: ("ok", "left"), 1: ("retract", "left"), 2: ("retract", "right"), 3: ("ok", "right")}
    for index, (label, view) in views.items():
        row = dataclasses.replace(sample_row("test", index, label), view=view)
        for rel in row.files():
            write_png(writer.split_dir("test") / rel)
        writer.add_sample(row)
    writer.flush()
    eval_dir = tmp_path / "run" / "eval" / "sweep-x"
    eval_dir.mkdir(parents=True)
    with open(eval_dir / "mistakes.csv", "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=["split", "index", "true", "predicted"])
        out.writeheader()
        out.writerow({"split": "test", "index": 1, "true": "retract", "predicted": "ok"})  # missed
        out.writerow({"split": "test", "index": 3, "true": "ok", "predicted": "tilt_x"})  # a false alarm
    config = {"preprocess": {"label_field": "label"}}
    samples = size_sweep.scored_samples(tmp_path / "run", writer.root, "sweep-x", 0.5, config)
    assert sorted(samples) == [
        (0.5, "left", "ok", "ok"),
        (0.5, "left", "retract", "ok"),
        (0.5, "right", "ok", "tilt_x"),
        (0.5, "right", "retract", "retract"),
    ]
