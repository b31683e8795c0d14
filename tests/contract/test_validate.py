"""The folder validator reports each problem on its own line."""

from __future__ import annotations

import json
import os

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
