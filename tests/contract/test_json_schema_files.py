"""The committed JSON Schema files, read by a real JSON Schema validator (as a non-Python reader would)."""

from __future__ import annotations

import json

import pytest
from conftest import sample_row
from jsonschema import Draft202012Validator
from pinscope_schema import GenerationSpec, ReferenceRow
from pinscope_schema.jsonschema import SCHEMA_DIR


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_the_contract_s_own_records_are_valid_under_the_schema_files():
    assert not list(validator("row.schema.json").iter_errors(sample_row("train", 3).to_dict()))
    reference = ReferenceRow(file_name="images/000001.png", mask_file="masks/000001.png").to_dict()
    assert not list(validator("reference_row.schema.json").iter_errors(reference))
    assert not list(validator("spec.schema.json").iter_errors(GenerationSpec().to_dict()))


BAD_PATHS = ["../x.png", "/etc/passwd", "images/../../x.png", "images/./a.png", "images//a.png", "images/", ".."]


@pytest.mark.parametrize("value", BAD_PATHS)
@pytest.mark.parametrize("key", ["file_name", "twin_file", "mask_file"])
def test_row_schema_rejects_paths_that_leave_their_folder(key, value):
    row = sample_row("train", 0).to_dict()
    row[key] = value
    errors = list(validator("row.schema.json").iter_errors(row))
    assert [list(e.path) for e in errors] == [[key]], errors


@pytest.mark.parametrize("value", BAD_PATHS)
def test_reference_row_schema_rejects_paths_that_leave_their_folder(value):
    errors = list(validator("reference_row.schema.json").iter_errors({"file_name": value}))
    assert [list(e.path) for e in errors] == [["file_name"]], errors


@pytest.mark.parametrize("value", ["images/000001.png", ".hidden/a.png", "a..b/c.png", "masks/x.tmp1.png"])
def test_row_schema_accepts_paths_inside_the_folder(value):
    row = sample_row("train", 0).to_dict()
    row["file_name"] = value
    assert not list(validator("row.schema.json").iter_errors(row))
