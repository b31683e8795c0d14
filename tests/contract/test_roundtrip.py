"""Every record type survives to_dict -> JSON -> from_dict unchanged."""

from __future__ import annotations

import json

import pytest
from conftest import sample_row
from pinscope_schema import (
    DefectClass,
    GenerationSpec,
    Manifest,
    ReferenceRow,
    load_spec,
)
from pinscope_schema.records import GeneratorInfo, new_manifest
from pinscope_schema.spec import CameraSpec, DatasetSpec, GridSpec, HousingSpec, LightSpec, PinSpec, RenderSpec


def _custom_spec() -> GenerationSpec:
    return GenerationSpec.from_dict(
        {
            "name": "custom-4x6",
            "seed": 42,
            "grid": {
                "cols": 4,
                "rows": 6,
                "pitch": 1.27,
                "pattern": "explicit",
                "cells": "SRTH/SSSS/RRRR/TTTT/HHHH/SRSR",
            },
            "pins": {"height": 3.0, "color": [0.9, 0.7, 0.2]},
            "housing": {"kind": "block", "margin": 0.3, "height": 1.0, "chamfer": 0.1},
            "defects": {
                "classes": [
                    {"name": "good", "mode": "ok"},
                    {"name": "bent", "mode": "tilt_x", "low": 5, "high": 15, "random_sign": True, "quota": 2},
                    {"name": "gone", "mode": "missing"},
                ],
                "pin": [1, 2],
            },
            "camera": {"rig": "centre", "lens": 35},
            "render": {"engine": "WORKBENCH", "width": 64, "height": 32},
            "dataset": {"train": 10, "validation": 0, "test": 5, "reference": 0, "twin": False},
        }
    )


RECORDS = [
    GenerationSpec(),
    _custom_spec(),
    GridSpec(cols=5, rows=2, pattern="checker"),
    PinSpec(height=1.5),
    HousingSpec(kind="none"),
    DefectClass("raised", "raise", 0.1, 0.3),
    CameraSpec(rig="centre"),
    LightSpec(energy=100.0),
    RenderSpec(engine="EEVEE", samples=4),
    DatasetSpec(train=3),
    sample_row("train", 3),
    sample_row("test", 0, "ok"),
    ReferenceRow(file_name="images/000001.png", view="left", index=1, seed=7, jitter={"light0": 360.0}),
    GeneratorInfo("pinscope", "1.2.3", "5.0.1"),
    new_manifest(_custom_spec(), "5.0.1", now="2026-01-01T00:00:00Z"),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_record_round_trips_through_json(record):
    text = json.dumps(record.to_dict())
    again = type(record).from_dict(json.loads(text))
    assert again == record
    assert again.to_dict() == record.to_dict()


def test_spec_file_json_and_toml_give_the_same_spec(tmp_path):
    spec = _custom_spec()
    (tmp_path / "s.json").write_text(json.dumps(spec.to_dict()))
    toml = (
        'name = "custom-4x6"\nseed = 42\n'
        '[grid]\ncols = 4\nrows = 6\npitch = 1.27\npattern = "explicit"\ncells = "SRTH/SSSS/RRRR/TTTT/HHHH/SRSR"\n'
        "[pins]\nheight = 3.0\ncolor = [0.9, 0.7, 0.2]\n"
        '[housing]\nkind = "block"\nmargin = 0.3\nheight = 1.0\nchamfer = 0.1\n'
        "[defects]\npin = [1, 2]\n"
        '[[defects.classes]]\nname = "good"\nmode = "ok"\n'
        '[[defects.classes]]\nname = "bent"\nmode = "tilt_x"\nlow = 5\nhigh = 15\nrandom_sign = true\nquota = 2\n'
        '[[defects.classes]]\nname = "gone"\nmode = "missing"\n'
        '[camera]\nrig = "centre"\nlens = 35\n'
        '[render]\nengine = "WORKBENCH"\nwidth = 64\nheight = 32\n'
        "[dataset]\ntrain = 10\nvalidation = 0\ntest = 5\nreference = 0\ntwin = false\n"
    )
    (tmp_path / "s.toml").write_text(toml)
    assert load_spec(tmp_path / "s.json") == spec
    assert load_spec(tmp_path / "s.toml") == spec


def test_default_spec_is_the_qeu_seed_scene():
    spec = GenerationSpec()
    assert (spec.grid.cols, spec.grid.rows, spec.grid.pitch) == (3, 9, 1.0)
    assert (spec.pins.square_width, spec.pins.round_radius, spec.pins.height) == (0.5, 0.25, 2.0)
    assert spec.labels == ["ok", "retract", "tilt_x", "tilt_y"]
    assert [c.high for c in spec.defects.classes] == [0.0, 0.5, 10.0, 10.0]
    assert spec.camera.views == ["left", "centre", "right"] and spec.camera.height == 14.0
    # METHOD.md's mixed rule: round where (x == 1 and y % 3 == 0) or (x != 1 and (y + 1) % 3 == 0).
    for x in range(3):
        for y in range(9):
            expected = "round" if (x == 1 and y % 3 == 0) or (x != 1 and (y + 1) % 3 == 0) else "square"
            assert spec.grid.shape_at(x, y) == expected
    assert spec.grid.shapes()[1 * 3 + 0] == spec.grid.shape_at(0, 1)  # pin index = row * cols + col


def test_fingerprint_changes_with_any_field():
    a, b = GenerationSpec(), GenerationSpec()
    assert a.fingerprint() == b.fingerprint()
    b.render.samples = 17
    assert a.fingerprint() != b.fingerprint()


def test_manifest_requires_labels_to_match_spec():
    m = new_manifest(GenerationSpec())
    data = m.to_dict()
    assert Manifest.from_dict(data) == m
    data["labels"] = ["ok", "retract", "tilt_y", "tilt_x"]
    with pytest.raises(ValueError, match=r"dataset.json.labels: must equal the spec's class names"):
        Manifest.from_dict(data)
