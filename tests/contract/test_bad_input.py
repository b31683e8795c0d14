"""The bad-input catalogue: each error is one line naming the field, the rule and the bad value."""

from __future__ import annotations

import json

import pytest
from conftest import sample_row
from pinscope_schema import ContractError, GenerationSpec, ReferenceRow, SampleRow, load_spec, read_rows

SPEC_CASES = [
    ({"grid": {"rows": -3}}, "spec.grid.rows: must be an integer 1..64, got -3"),
    ({"grid": {"rows": 2.5}}, "spec.grid.rows: must be an integer 1..64, got 2.5"),
    ({"grid": {"cols": True}}, "spec.grid.cols: must be an integer 1..64, got true"),
    ({"grid": {"cols": "3"}}, "spec.grid.cols: must be an integer 1..64, got '3'"),
    ({"grid": {"pattern": "star"}}, "spec.grid.pattern: must be one of mixed, square, round, checker"),
    ({"grid": {"pattern": "explicit", "cells": "SR/SR"}}, "spec.grid.cells: must hold 9 groups of 3 letters"),
    ({"grid": {"cells": "SQ"}}, "spec.grid.cells: must match [SRTH/]*, got 'SQ'"),
    ({"grid": {"pitch": 0}}, "spec.grid.pitch: must be a number 0.05..100.0, got 0"),
    ({"pins": {"round_radius": float("nan")}}, "spec.pins.round_radius: must be a number"),
    (
        {"pins": {"square_width": 1.2}},
        "spec.pins.square_width: square pins (1.2 wide) must be narrower than spec.grid.pitch",
    ),
    ({"pins": {"color": [1, 2, 3]}}, "spec.pins.color: must be an RGB list of 3 numbers 0..1"),
    ({"housing": {"height": -0.1}}, "spec.housing.height: must be a number 0.0..100.0, got -0.1"),
    ({"housing": {"height": 0.0}}, "spec.housing.height: must be above 0 and below spec.pins.height"),
    ({"housing": {"kind": "tube"}}, "spec.housing.kind: must be one of block, shroud, cavities, none; got 'tube'"),
    # A user's own part and optics (millimetres, fitting, a real camera, housing variants).
    ({"camera": {"fill": 0}}, "spec.camera.fill: must be above 0 and at most 1, got 0.0"),
    ({"camera": {"fill": -0.2}}, "spec.camera.fill: must be a number 0.0..1.0, got -0.2"),
    ({"camera": {"fill": 1.5}}, "spec.camera.fill: must be a number 0.0..1.0, got 1.5"),
    ({"camera": {"sensor_width": 0}}, "spec.camera.sensor_width: must be a number 0.1..1000.0, got 0"),
    ({"camera": {"sensor_height": 0}}, "spec.camera.sensor_height: must be a number 0.1..1000.0, got 0"),
    ({"camera": {"working_distance": -50}}, "spec.camera.working_distance: must be a number 0.1..100000.0, got -50"),
    ({"camera": {"projection": "fisheye"}}, "spec.camera.projection: must be one of perspective, orthographic;"),
    ({"camera": {"fit_by": "zoom"}}, "spec.camera.fit_by: must be one of distance, focal_length; got 'zoom'"),
    ({"lights": {"preset": "disco"}}, "spec.lights.preset: must be one of seed, ring, coaxial, dome, low_angle,"),
    (
        {"housing": {"kind": "cavities", "cavity_depth": 0.9}},
        "spec.housing.cavity_depth: must be above 0 and below spec.housing.height (0.8) for cavities, got 0.9",
    ),
    (
        {"housing": {"kind": "shroud", "wall_thickness": 0.6}},
        "spec.housing.wall_thickness: must be above 0 and below spec.housing.margin (0.5) for a shroud, got 0.6",
    ),
    (
        {"housing": {"kind": "cavities", "cavity_clearance": 0.3}},
        "spec.housing.cavity_clearance: makes the holes 1.1 mm wide: they must be narrower than spec.grid.pitch",
    ),
    (
        {"housing": {"kind": "block", "notch_width": 1.0, "notch_depth": 0.5}},
        "spec.housing.notch_depth: must be above 0 and below spec.housing.margin (0.5) for a notch, got 0.5",
    ),
    (
        {"housing": {"kind": "shroud", "chamfer": 0.4}},
        "spec.housing.chamfer: bevels the shroud's walls: must be at most min(wall_thickness, wall_height) = 0.3",
    ),
    ({"colour": 1}, "spec.colour: unknown field; allowed: schema_version, name, seed"),
    ({"grid": {"rowz": 9}}, "spec.grid.rowz: unknown field; allowed: cols, rows, pitch, pattern, cells"),
    ({"schema_version": 2}, "spec.schema_version: version 2 is newer than this PinScope supports"),
    ({"defects": {"classes": []}}, "spec.defects.classes: must be a list of 1..32 objects"),
    ({"defects": {"classes": [{"name": "a", "mode": "wobble"}]}}, "spec.defects.classes[0].mode: must be one of ok,"),
    # defect physics: bend, twist, tip, several pins, tolerance
    (
        {"defects": {"classes": [{"name": "b", "mode": "bend", "low": 80, "high": 90}]}},
        "spec.defects.classes[0].high: bend must be 0 <= bend < 90 degrees, got 90.0",
    ),
    (
        {"defects": {"classes": [{"name": "b", "mode": "bend", "low": -5, "high": 5}]}},
        "spec.defects.classes[0].low: is a magnitude for bend: must be >= 0, got -5.0",
    ),
    (
        {"defects": {"classes": [{"name": "t", "mode": "twist", "low": 10, "high": 181}]}},
        "spec.defects.classes[0].high: twist must be within -180..180 degrees, got 181.0",
    ),
    (
        {"defects": {"classes": [{"name": "t", "mode": "twist", "low": -200, "high": 10}]}},
        "spec.defects.classes[0].low: twist must be within -180..180 degrees, got -200.0",
    ),
    (
        {"defects": {"classes": [{"name": "c", "mode": "tip", "low": 0.1, "high": 0.4}]}},
        "spec.defects.classes[0].high: tip must be below a sixth of the pin height (0.3333 mm",
    ),
    (
        {"defects": {"classes": [{"name": "r", "mode": "retract", "count_low": 2, "count_high": 28}]}},
        "spec.defects.classes[0].count_high: must be at most the pin count (27), got 28",
    ),
    (
        {"defects": {"classes": [{"name": "r", "mode": "retract", "count_low": 0}]}},
        "spec.defects.classes[0].count_low: must be an integer 1..4096, got 0",
    ),
    (
        {"defects": {"classes": [{"name": "r", "mode": "retract", "count_low": 3, "count_high": 2}]}},
        "spec.defects.classes[0].count_low: must be <= count_high (2), got 3",
    ),
    (
        {"defects": {"classes": [{"name": "r", "mode": "retract", "near_tolerance": 0.5}]}},
        "spec.defects.classes[0].near_tolerance: needs spec.tolerance.enabled: true",
    ),
    (
        {"tolerance": {"enabled": True, "position": 0}},
        "spec.tolerance.position: must be above 0 (a tolerance), got 0.0",
    ),
    ({"tolerance": {"height": -0.1}}, "spec.tolerance.height: must be a number 0.0..1000.0, got -0.1"),
    ({"tolerance": {"bend": 0}}, "spec.tolerance.bend: must be above 0 (a tolerance), got 0.0"),
    ({"defects": {"classes": [{"name": "Bad Name"}]}}, "spec.defects.classes[0].name: must match"),
    (
        {"defects": {"classes": [{"name": "t", "mode": "tilt_y", "low": 80, "high": 95}]}},
        "spec.defects.classes[0].high: tilt must be within -90..90 degrees",
    ),
    (
        {"defects": {"classes": [{"name": "t", "mode": "retract", "low": 0.6, "high": 0.5}]}},
        "spec.defects.classes[0].low: must be <= high (0.5), got 0.6",
    ),
    ({"defects": {"classes": [{"name": "a"}, {"name": "a"}]}}, "spec.defects.classes[1].name: duplicate class name"),
    ({"defects": {"pin": [5, 0]}}, "spec.defects.pin: must be inside the grid (col 0..2, row 0..8), got [5, 0]"),
    ({"defects": {"pin": [1]}}, "spec.defects.pin: must be a list of 2 integers 0..63 or null"),
    ({"render": {"engine": "LUXCORE"}}, "spec.render.engine: must be one of CYCLES, WORKBENCH, EEVEE; got 'LUXCORE'"),
    ({"render": {"width": 4}}, "spec.render.width: must be an integer 8..8192, got 4"),
    ({"dataset": {"train": -1}}, "spec.dataset.train: must be an integer 0..10000000, got -1"),
    ({"dataset": {"twin": "yes"}}, "spec.dataset.twin: must be true or false, got 'yes'"),
    ({"camera": {"rig": "five"}}, "spec.camera.rig: must be one of qeu3, centre; got 'five'"),
    (
        {"grid": {"pattern": "hexagon"}, "defects": {"classes": [{"name": "w", "mode": "wrong_shape"}]}},
        "spec.defects.classes[0].mode: wrong_shape needs a grid of square and/or round pins only",
    ),
    # domain randomisation
    ({"randomize": {"light_scale": [1.8, 0.5]}}, "spec.randomize.light_scale: low 1.8 is above high 0.5"),
    ({"randomize": {"read_noise": [-1, 2]}}, "spec.randomize.read_noise: must lie within 0.0..50.0, got [-1, 2]"),
    ({"randomize": {"shot_noise": [-0.5, 0.0]}}, "spec.randomize.shot_noise: must lie within 0.0..10.0"),
    ({"randomize": {"platings": ["gold", "zinc"]}}, "spec.randomize.platings: must be a list of distinct choices"),
    ({"randomize": {"light_presets": ["ring", "ring"]}}, "spec.randomize.light_presets: must be a list of distinct"),
    ({"randomize": {"blur": 0.5}}, "spec.randomize.blur: must be [low, high] (two numbers 0.0..10.0) or null"),
    ({"randomize": {"colour": [0, 1]}}, "spec.randomize.colour: unknown field; allowed: platings,"),
    (
        {"randomize": {"per_line": ["housing_value"]}},
        "spec.randomize.per_line: housing_value is not drawn (its range is null or its list empty)",
    ),
    ({"randomize": {"per_line": ["camera"]}}, "spec.randomize.per_line: must be a list of distinct choices"),
    (
        {"dataset": {"lines": 4, "reference": 6}},
        "spec.dataset.reference: must be 0 or at least dataset.lines x cameras (4 x 3 = 12)",
    ),
    ({"dataset": {"lines": 0}}, "spec.dataset.lines: must be an integer 1..10000"),
    (
        {"dataset": {"every_view": True, "twin_share": 2, "validation": 10}},
        "spec.dataset.validation: must be a multiple of dataset.twin_share x cameras (2 x 3 = 6) "
        "with dataset.every_view, got 10",
    ),
    ([1, 2], "spec: must be an object, got a list"),
]


@pytest.mark.parametrize(
    "data,message", SPEC_CASES, ids=[m.split(":")[0] + f"#{i}" for i, (_, m) in enumerate(SPEC_CASES)]
)
def test_bad_spec_is_named_in_one_line(data, message):
    with pytest.raises(ContractError) as info:
        GenerationSpec.from_dict(data)
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text


ROW_CASES = [
    ({"file_name": "../x.png"}, "row.file_name: must be a relative path inside its folder"),
    ({"file_name": "/etc/passwd"}, "row.file_name: must be a relative path inside its folder"),
    ({"file_name": "images/./a.png"}, "row.file_name: must be a relative path inside its folder"),
    ({"file_name": "a\\b.png"}, "row.file_name: must match"),
    ({"twin_file": "../../t.png"}, "row.twin_file: must be a relative path inside its folder"),
    ({"pin": None}, "row.pin: must be null exactly when mode is ok"),
    ({"defect_box": [5, 5, 1, 1]}, "row.defect_box: must have x0<=x1 and y0<=y1"),
    ({"pin_boxes": [[0, 0, 1]]}, "row.pin_boxes[0]: must be a pixel box"),
    ({"jitter": {"cam": "left"}}, "row.jitter: must be an object of name -> number"),
    ({"split": "dev"}, "row.split: must be one of train, validation, test; got 'dev'"),
    ({"qeu_code": "31D"}, "row.qeu_code: must match"),
    ({"extra": 1}, "row.extra: unknown field"),
]


@pytest.mark.parametrize(
    "change,message", ROW_CASES, ids=[m.split(":")[0] + f"#{i}" for i, (_, m) in enumerate(ROW_CASES)]
)
def test_bad_row_is_named_in_one_line(change, message):
    data = sample_row("train", 1).to_dict()
    data.update(change)
    with pytest.raises(ContractError) as info:
        SampleRow.from_dict(data)
    assert str(info.value).startswith(message), str(info.value)


def test_missing_required_field():
    with pytest.raises(ContractError, match=r"^reference_row.file_name: is required$"):
        ReferenceRow.from_dict({"view": "left"})


def test_invalid_and_truncated_json_lines_report_line_numbers(tmp_path):
    path = tmp_path / "train" / "metadata.jsonl"
    path.parent.mkdir()
    good = json.dumps(sample_row("train", 0).to_dict())
    path.write_text(good + "\n{not json}\n")
    with pytest.raises(ContractError, match=r"^train/metadata.jsonl line 2: invalid JSON"):
        read_rows(path)
    path.write_text(good + "\n" + good[:40])
    with pytest.raises(ContractError, match=r"^train/metadata.jsonl line 2: truncated line"):
        read_rows(path)


def test_unreadable_spec_files(tmp_path):
    with pytest.raises(ContractError, match=r"^spec: cannot read"):
        load_spec(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"grid": {"rows": 3,}}')
    with pytest.raises(ContractError, match=r"^spec: .*bad.json is not valid JSON"):
        load_spec(bad)


def test_catalogue_covers_at_least_twenty_distinct_fields():
    fields_named = {m.split(":")[0] for _, m in SPEC_CASES + ROW_CASES}
    assert len(fields_named) >= 20
