"""Writer and reader: whole rows or nothing, refusal of foreign folders, repair on resume."""

from __future__ import annotations

import json
import os

import pytest
from conftest import sample_row, tiny_spec, write_png, write_sample
from pinscope_schema import ContractError, DatasetWriter, read_manifest, read_rows, scan_rows, validate_dataset


def test_rows_are_whole_lines_and_counts_follow(tmp_path):
    writer = DatasetWriter(tmp_path / "ds", tiny_spec())
    for i in range(3):
        write_sample(writer, "train", i, ["ok", "retract", "tilt_x"][i])
    writer.flush()
    raw = (tmp_path / "ds" / "train" / "metadata.jsonl").read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 3
    assert [r.index for r in read_rows(tmp_path / "ds" / "train" / "metadata.jsonl")] == [0, 1, 2]
    manifest = read_manifest(tmp_path / "ds")
    assert manifest.counts["train"] == {"ok": 1, "retract": 1, "tilt_x": 1}
    assert manifest.spec_hash == tiny_spec().fingerprint()


def test_row_is_refused_before_its_files_exist(tmp_path):
    writer = DatasetWriter(tmp_path / "ds", tiny_spec())
    with pytest.raises(ContractError, match=r"^row.file_name: train/images/000000.png does not exist"):
        writer.add_sample(sample_row("train", 0))
    assert not (tmp_path / "ds" / "train" / "metadata.jsonl").exists()


def test_duplicate_file_name_and_unknown_label_are_refused(tmp_path):
    writer = DatasetWriter(tmp_path / "ds", tiny_spec())
    write_sample(writer, "train", 0)
    with pytest.raises(ContractError, match=r"^row.file_name: duplicate file name 'images/000000.png' in train/"):
        writer.add_sample(sample_row("train", 0))
    row = sample_row("train", 1)
    row.label = "scratched"
    for rel in row.files():
        write_png(writer.split_dir("train") / rel)
    with pytest.raises(ContractError, match=r"^row.label: 'scratched' not in the label vocabulary"):
        writer.add_sample(row)


def test_folder_of_another_spec_is_refused_and_left_untouched(tmp_path):
    writer = DatasetWriter(tmp_path / "ds", tiny_spec())
    write_sample(writer, "train", 0)
    writer.flush()
    before = {p: p.read_bytes() for p in (tmp_path / "ds").rglob("*") if p.is_file()}
    with pytest.raises(ContractError, match=r"^--out: .* holds a dataset made from a different spec"):
        DatasetWriter(tmp_path / "ds", tiny_spec(train=5))
    after = {p: p.read_bytes() for p in (tmp_path / "ds").rglob("*") if p.is_file()}
    assert before == after


def test_output_path_that_is_a_file(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    with pytest.raises(ContractError, match=r"^--out: cannot write to"):
        DatasetWriter(target, tiny_spec())
    assert target.read_text() == "keep me"


def test_resume_drops_torn_and_broken_rows(tmp_path):
    root = tmp_path / "ds"
    writer = DatasetWriter(root, tiny_spec())
    rows = [write_sample(writer, "train", i) for i in range(3)]
    meta = root / "train" / "metadata.jsonl"
    # A crash mid-write leaves a torn last line; a lost file leaves a row without its image.
    with open(meta, "ab") as f:
        f.write(json.dumps(sample_row("train", 3).to_dict()).encode()[:50])
    os.remove(root / "train" / rows[1].twin_file)
    reopened = DatasetWriter(root, tiny_spec())
    assert reopened.done_indices("train") == {0, 2}
    assert any("truncated line" in p for p in reopened.repaired)
    assert any("files missing" in p for p in reopened.repaired)
    good, problems = scan_rows(meta)
    assert [r.index for r in good] == [0, 2] and problems == []
    # Re-rendering the dropped samples completes the split.
    write_png(root / "train" / rows[1].twin_file)
    reopened.add_sample(rows[1])
    write_sample(reopened, "train", 3)
    reopened.flush()
    assert reopened.done_indices("train") == {0, 1, 2, 3}
    assert not [p for p in validate_dataset(root, require_complete=False) if "train" in p]


def test_resume_drops_a_line_that_is_not_utf8(tmp_path):
    root = tmp_path / "ds"
    writer = DatasetWriter(root, tiny_spec())
    write_sample(writer, "train", 0)
    meta = root / "train" / "metadata.jsonl"
    with open(meta, "ab") as f:
        f.write(b"\xff\xfe not json\n")  # a disk error can leave any bytes behind
    write_sample(DatasetWriter(root, tiny_spec()), "train", 1)
    reopened = DatasetWriter(root, tiny_spec())
    assert reopened.done_indices("train") == {0, 1}
    good, problems = scan_rows(meta)
    assert [r.index for r in good] == [0, 1] and problems == []


def test_manifest_write_is_atomic(tmp_path):
    writer = DatasetWriter(tmp_path / "ds", tiny_spec())
    writer.flush(stats={"render_seconds": 1.5})
    leftovers = [p.name for p in (tmp_path / "ds").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert read_manifest(tmp_path / "ds").stats["render_seconds"] == 1.5


def test_atomic_file_leaves_the_old_content_when_the_block_fails(tmp_path):
    from pinscope_schema import atomic_file, atomic_write

    target = tmp_path / "result.json"
    atomic_write(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as f:
            f.write("half of the new")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary left behind
    atomic_write(target, b"new\n")
    assert target.read_bytes() == b"new\n"


def test_atomic_dir_swaps_a_whole_folder(tmp_path):
    from pinscope_schema import atomic_dir

    target = tmp_path / "ckpt"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "b.txt").write_text("2")
            raise RuntimeError("killed")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
