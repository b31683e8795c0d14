"""Shard partition and merge, with the contract's writer and tiny PNGs (no rendering needed).

The fake "renderer" here writes per-sample files whose bytes depend only on (split, index), exactly
like the real one, so a merge of shards must equal a single run byte for byte.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from pinscope_schema import REFERENCE, SPLITS, ContractError, DatasetWriter, GenerationSpec, ReferenceRow, SampleRow
from pinscope_schema.validate import validate_dataset

from blender_addon.dataset.shards import (
    PARTS,
    done_in,
    merge,
    parse_shard,
    shard_dir_name,
    shard_of,
    shard_plan,
    work_units,
)


def png_bytes(value: int, width: int = 8, height: int = 8) -> bytes:
    raw = b"".join(b"\x00" + bytes([value % 256]) * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def make_spec(train=7, validation=3, test=4, reference=3, twin_share=1, seed=0) -> GenerationSpec:
    return GenerationSpec.from_dict(
        {
            "seed": seed,
            "render": {"width": 8, "height": 8},  # what png_bytes draws (validate checks image sizes)
            "dataset": {
                "train": train,
                "validation": validation,
                "test": test,
                "reference": reference,
                "twin_share": twin_share,
            },
        }
    )


def fake_render(writer: DatasetWriter, part: str, index: int) -> None:
    """Write one sample's files and row; content depends on (part, index) and the twin group only."""
    from pinscope_schema import file_digest

    folder = writer.root / part
    stem = f"{index:06d}.png"
    if part == REFERENCE:
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "images" / stem).write_bytes(png_bytes(200 + index))
        writer.add_reference(
            ReferenceRow(
                file_name=f"images/{stem}",
                index=index,
                seed=index,
                sha256={"image": file_digest(folder / "images" / stem)},
            )
        )
        return
    share = writer.spec.dataset.twin_share
    twin = f"twins/{(index - index % share):06d}.png"
    files = {f"images/{stem}": png_bytes(index), twin: png_bytes(100 + index // share), f"masks/{stem}": png_bytes(7)}
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    ok = index % 2 == 0
    writer.add_sample(
        SampleRow(
            file_name=f"images/{stem}",
            label="ok" if ok else "retract",
            mode="ok" if ok else "retract",
            pin=None if ok else [0, 1],
            pin_index=-1 if ok else 3,
            qeu_code="OK" if ok else "12D05",
            dz=0.0 if ok else -0.5,
            split=part,
            index=index,
            seed=index,
            twin_file=twin,
            mask_file=f"masks/{stem}",
            sha256={
                "image": file_digest(folder / f"images/{stem}"),
                "twin": file_digest(folder / twin),
                "mask": file_digest(folder / f"masks/{stem}"),
            },
        )
    )


def fake_run(spec: GenerationSpec, root: Path, shard=None) -> Path:
    writer = DatasetWriter(root, spec, blender_version="fake", shard=shard)
    plan = shard_plan(spec, *(shard or (0, 1)))
    for part in PARTS:
        for index in plan[part]:
            fake_render(writer, part, index)
    writer.flush()
    return root


def folder_content(root: Path) -> dict:
    """Everything that must match between two runs: metadata lines and every file's bytes (not dataset.json times)."""
    content = {}
    for part in PARTS:
        for path in sorted((root / part).rglob("*")):
            if path.is_file():
                content[path.relative_to(root).as_posix()] = path.read_bytes()
    return content


# --- partition --------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 2, 3, 5, 40])
@pytest.mark.parametrize("share", [1, 4])
def test_partition_is_disjoint_and_covering(count, share):
    spec = make_spec(train=17, validation=5, test=6, reference=4, twin_share=share)
    seen = {part: [] for part in PARTS}
    for i in range(count):
        for part, indices in shard_plan(spec, i, count).items():
            seen[part] += indices
            assert all(shard_of(spec, part, x, count) == i for x in indices)
    assert sorted(seen["train"]) == list(range(17))
    assert sorted(seen["validation"]) == list(range(5))
    assert sorted(seen["test"]) == list(range(6))
    assert sorted(seen[REFERENCE]) == list(range(4))
    assert shard_plan(spec, 1, count if count > 1 else 2) == shard_plan(spec, 1, count if count > 1 else 2)


def test_twin_groups_stay_in_one_shard_and_shards_are_balanced():
    spec = make_spec(train=40, validation=0, test=0, reference=0, twin_share=4)
    assert [u[1] for u in work_units(spec)] == list(range(0, 40, 4))
    sizes = []
    for i in range(3):
        train = shard_plan(spec, i, 3)["train"]
        sizes.append(len(train))
        assert {x // 4 for x in train}.isdisjoint(
            {x // 4 for j in range(3) if j != i for x in shard_plan(spec, j, 3)["train"]}
        )
    assert max(sizes) - min(sizes) <= 4


@pytest.mark.parametrize("text", ["5/4", "4/4", "-1/4", "1/0", "a/b", "1", "", "1/2/3"])
def test_bad_shard_text_is_one_line_error(text):
    with pytest.raises(ContractError) as err:
        parse_shard(text)
    assert str(err.value).startswith("--shard: must be i/N")
    assert "\n" not in str(err.value)


def test_parse_shard_accepts_spaces():
    assert parse_shard(" 2 / 3 ") == (2, 3)
    assert shard_dir_name(2, 3) == "shard-002-of-003"


# --- merge ------------------------------------------------------------------------------------
@pytest.mark.parametrize("share", [1, 3])
def test_three_shards_merged_equal_a_single_run(tmp_path, share):
    spec = make_spec(twin_share=share)
    single = fake_run(spec, tmp_path / "single")
    shards = [fake_run(spec, tmp_path / f"s{i}", shard=(i, 3)) for i in (2, 0, 1)]  # any order
    report = merge(shards, tmp_path / "merged")
    assert report.added == {"train": 7, "validation": 3, "test": 4, REFERENCE: 3}
    assert validate_dataset(tmp_path / "merged") == []
    assert folder_content(tmp_path / "merged") == folder_content(single)
    again = merge(shards, tmp_path / "merged")  # idempotent: a second merge adds nothing
    assert sum(again.added.values()) == 0 and again.skipped == 17


def test_merge_with_links_and_resume_after_partial_output(tmp_path):
    spec = make_spec()
    single = fake_run(spec, tmp_path / "single")
    shards = [fake_run(spec, tmp_path / f"s{i}", shard=(i, 2)) for i in range(2)]
    out = tmp_path / "merged"
    merge(shards, out, link=True)
    # Simulate a merge killed half-way: drop the last rows and a file, leave a torn line.
    lines = (out / "train" / "metadata.jsonl").read_bytes().splitlines(keepends=True)
    (out / "train" / "metadata.jsonl").write_bytes(b"".join(lines[:3]) + lines[3][:20])
    (out / "train" / "images" / "000006.png").unlink()
    report = merge(shards, out, link=True)
    assert report.added["train"] == 4
    assert validate_dataset(out) == []
    assert folder_content(out) == folder_content(single)


def test_merge_refuses_different_specs(tmp_path):
    a = fake_run(make_spec(seed=1), tmp_path / "a", shard=(0, 2))
    b = fake_run(make_spec(seed=2), tmp_path / "b", shard=(1, 2))
    with pytest.raises(ContractError, match=r"^merge: .*different spec") as err:
        merge([a, b], tmp_path / "out")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_merge_refuses_gap_overlap_and_mixed_counts(tmp_path):
    spec = make_spec()
    s0 = fake_run(spec, tmp_path / "s0", shard=(0, 3))
    s1 = fake_run(spec, tmp_path / "s1", shard=(1, 3))
    s1b = fake_run(spec, tmp_path / "s1b", shard=(1, 3))
    t1 = fake_run(spec, tmp_path / "t1", shard=(1, 2))
    with pytest.raises(ContractError, match=r"^merge: gap: shard 2/3 missing"):
        merge([s0, s1], tmp_path / "out")
    with pytest.raises(ContractError, match=r"^merge: overlap: shard 1/3 given twice"):
        merge([s0, s1, s1b], tmp_path / "out")
    with pytest.raises(ContractError, match=r"same N"):
        merge([s0, t1], tmp_path / "out")
    whole = fake_run(spec, tmp_path / "whole")
    with pytest.raises(ContractError, match=r"not a shard"):
        merge([whole], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_merge_refuses_incomplete_shard_and_foreign_rows(tmp_path):
    spec = make_spec()
    s0 = fake_run(spec, tmp_path / "s0", shard=(0, 2))
    # Shard 1 stopped early: only its first two train samples.
    writer = DatasetWriter(tmp_path / "s1", spec, shard=(1, 2))
    for index in shard_plan(spec, 1, 2)["train"][:2]:
        fake_render(writer, "train", index)
    writer.flush()
    with pytest.raises(ContractError, match=r"^merge: gap: shard 1/2 .* lacks .* re-run it with --shard 1/2"):
        merge([s0, tmp_path / "s1"], tmp_path / "out")
    # A shard holding a sample of another shard is an overlap.
    rogue = fake_run(spec, tmp_path / "rogue", shard=(1, 2))
    fake_render(DatasetWriter(rogue, spec, shard=(1, 2)), "train", shard_plan(spec, 0, 2)["train"][0])
    DatasetWriter(rogue, spec, shard=(1, 2)).flush()
    with pytest.raises(ContractError, match=r"^merge: overlap: .* belongs to shard 0/2"):
        merge([s0, rogue], tmp_path / "out")


def test_merge_refuses_corrupted_shard_file(tmp_path):
    spec = make_spec()
    shards = [fake_run(spec, tmp_path / f"s{i}", shard=(i, 2)) for i in range(2)]
    (shards[1] / "test" / "masks" / f"{shard_plan(spec, 1, 2)['test'][0]:06d}.png").write_bytes(png_bytes(99))
    with pytest.raises(ContractError, match=r"sha256 mismatch.*re-run that shard"):
        merge(shards, tmp_path / "out")


def test_merge_into_folder_of_other_spec_is_refused_untouched(tmp_path):
    spec = make_spec()
    other = fake_run(make_spec(seed=9), tmp_path / "other")
    before = folder_content(other)
    shards = [fake_run(spec, tmp_path / f"s{i}", shard=(i, 2)) for i in range(2)]
    with pytest.raises(ContractError, match="different spec"):
        merge(shards, other)
    assert folder_content(other) == before


def test_done_in_is_read_only(tmp_path):
    spec = make_spec()
    root = fake_run(spec, tmp_path / "d")
    meta = root / "train" / "metadata.jsonl"
    meta.write_bytes(meta.read_bytes() + b'{"file_name": "torn')
    before = meta.read_bytes()
    done = done_in(root)
    assert done["train"] == set(range(7)) and done[REFERENCE] == {0, 1, 2}
    assert meta.read_bytes() == before
    assert done_in(tmp_path / "nothing") == {part: set() for part in (*SPLITS, REFERENCE)}
