"""The folder validator reports each problem on its own line."""

from __future__ import annotations

import json
import os

import pytest
from conftest import sample_row, write_png
from pinscope_schema import check_dataset, file_digest, validate_dataset
from pinscope_schema.fields import ContractError


def test_complete_dataset_is_valid(tiny_dataset):
    assert validate_dataset(tiny_dataset) == []
    check_dataset(tiny_dataset)


def test_missing_orphan_and_count_problems(tiny_dataset):
    os.remove(tiny_dataset / "train" / "masks" / "000001.png")
    write_png(tiny_dataset / "test" / "images" / "999999.png")
    problems = validate_dataset(tiny_dataset)
    assert "train/masks/000001.png: missing (mask of images/000001.png)" in problems
    assert "test/images/999999.png: orphan file (no row refers to it)" in problems


def test_hash_mismatch_and_wrong_split(tiny_dataset):
    meta = tiny_dataset / "validation" / "metadata.jsonl"
    rows = [json.loads(line) for line in meta.read_text().splitlines()]
    rows[0]["sha256"] = {"image": file_digest(tiny_dataset / "validation" / rows[0]["file_name"])}
    rows[1]["sha256"] = {"image": "0" * 16}
    rows[1]["split"] = "test"
    meta.write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = validate_dataset(tiny_dataset)
    assert any(p.startswith("validation/images/000001.png: sha256 mismatch") for p in problems)
    assert any("split: says 'test' but lies in validation/" in p for p in problems)
    assert not any("000000.png: sha256" in p for p in problems)


def test_incomplete_and_bad_label(tiny_dataset):
    meta = tiny_dataset / "test" / "metadata.jsonl"
    lines = meta.read_text().splitlines()
    bad = json.loads(lines[0])
    bad["label"] = "scratched"
    meta.write_text(json.dumps(bad) + "\n")
    problems = validate_dataset(tiny_dataset)
    assert any("label: 'scratched' not in the vocabulary" in p for p in problems)
    assert "test: 1 of 2 samples (incomplete; re-run to resume)" in problems
    assert any(p.startswith("dataset.json: counts.test: says") for p in problems)


def test_not_a_dataset(tmp_path):
    assert validate_dataset(tmp_path) == [f"dataset.json: not found in {tmp_path} (not a PinScope dataset folder)"]
    try:
        check_dataset(tmp_path)
    except ContractError as err:
        assert "not a PinScope dataset folder" in str(err)
    else:
        raise AssertionError("check_dataset accepted an empty folder")


def test_duplicate_file_names_in_metadata(tiny_dataset):
    meta = tiny_dataset / "train" / "metadata.jsonl"
    first = meta.read_text().splitlines()[0]
    with open(meta, "a") as f:
        f.write(first + "\n")
    problems = validate_dataset(tiny_dataset)
    assert any(p.endswith("file_name: duplicate") for p in problems)
    assert sample_row("train", 0).file_name in " ".join(problems)


def _rehash(folder, rel: str, role: str, meta_path, index: int = 0) -> None:
    """Make row `index` of `meta_path` carry the current hash of its `role` file (as a forged row would)."""
    rows = [json.loads(line) for line in meta_path.read_text().splitlines()]
    rows[index]["sha256"][role] = file_digest(folder / rel)
    meta_path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("role,key", [("mask", "mask_file"), ("twin", "twin_file"), ("image", "file_name")])
def test_a_file_of_the_wrong_size_is_reported_even_when_its_hash_matches(tiny_dataset, role, key):
    meta = tiny_dataset / "train" / "metadata.jsonl"
    rel = json.loads(meta.read_text().splitlines()[0])[key]
    write_png(tiny_dataset / "train" / rel, width=24, height=8)
    _rehash(tiny_dataset / "train", rel, role, meta)
    problems = validate_dataset(tiny_dataset)
    assert problems == [f"train/{rel}: {role} is 24 x 8 pixels, the spec renders 12 x 8"]


@pytest.mark.parametrize(
    "line,problem",
    [
        ('{"file_name": ' + "[" * 100_000 + "]" * 100_000 + "}", "invalid JSON (nested too deeply)"),
        ('{"index": ' + "9" * 5000 + "}", "invalid JSON (a number too long to read)"),
    ],
)
def test_a_deep_or_huge_metadata_row_is_a_problem_line_not_a_traceback(tiny_dataset, line, problem):
    meta = tiny_dataset / "test" / "metadata.jsonl"
    meta.write_text(meta.read_text() + line + "\n")
    problems = validate_dataset(tiny_dataset)
    assert "test/metadata.jsonl line 3: " + problem in problems
