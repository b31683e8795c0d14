"""A dataset written by the contract's writer loads in Hugging Face `datasets` as it is."""

from __future__ import annotations

import datasets
from pinscope_schema import SPLITS, read_rows


def test_imagefolder_loads_every_split_row_and_column(tiny_dataset, tmp_path):
    ds = datasets.load_dataset("imagefolder", data_dir=str(tiny_dataset), cache_dir=str(tmp_path / "hf"))
    assert sorted(ds.keys()) == sorted(SPLITS)
    for split in SPLITS:
        rows = read_rows(tiny_dataset / split / "metadata.jsonl")
        part = ds[split]
        assert part.num_rows == len(rows)
        by_index = {r["index"]: r for r in part}
        for row in rows:
            got = by_index[row.index]
            assert got["image"].size == (12, 8)
            for column in (
                "label",
                "pin",
                "qeu_code",
                "dz",
                "view",
                "seed",
                "twin_file",
                "mask_file",
                "pin_boxes",
                "defect_box",
                "jitter",
            ):
                assert got[column] == getattr(row, column), (split, row.index, column)
