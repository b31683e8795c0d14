"""Helpers for the contract tier: tiny PNGs written with the standard library only."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "shared"))

from pinscope_schema import SPLITS, DatasetWriter, GenerationSpec, SampleRow  # noqa: E402


def write_png(path: Path, width: int = 12, height: int = 8, value: int = 0) -> None:
    """A grey PNG made without numpy or PIL (the contract tier needs neither)."""
    raw = b"".join(b"\x00" + bytes([value % 256]) * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def tiny_spec(**dataset) -> GenerationSpec:
    # 12 x 8 renders: what write_png draws (validate checks every image's size against the spec)
    data = {
        "render": {"width": 12, "height": 8},
        "dataset": {"train": 4, "validation": 2, "test": 2, "reference": 2, **dataset},
    }
    return GenerationSpec.from_dict(data)


def sample_row(split: str, index: int, label: str = "retract") -> SampleRow:
    ok = label == "ok"
    stem = f"{index:06d}.png"
    return SampleRow(
        file_name=f"images/{stem}",
        label=label,
        mode="ok" if ok else label,
        pin=None if ok else [2, 0],
        pin_index=-1 if ok else 2,
        qeu_code="OK" if ok else "31D05",
        shape="" if ok else "square",
        dz=0.0 if ok else -0.5,
        view="centre",
        split=split,
        index=index,
        seed=1000 + index,
        jitter={"cam_dx": 0.01 * index, "light0": 351.5},
        twin_file=f"twins/{stem}",
        mask_file=f"masks/{stem}",
        pin_boxes=[[i, 0, i + 1, 2] for i in range(27)],
        defect_box=None if ok else [2, 0, 3, 2],
    )


def write_sample(writer: DatasetWriter, split: str, index: int, label: str = "retract") -> SampleRow:
    row = sample_row(split, index, label)
    folder = writer.split_dir(split)
    for i, rel in enumerate(row.files()):
        write_png(folder / rel, value=index * 10 + i)
    writer.add_sample(row)
    return row


@pytest.fixture
def tiny_dataset(tmp_path):
    """A complete tiny dataset written through the contract's writer."""
    spec = tiny_spec()
    writer = DatasetWriter(tmp_path / "ds", spec, blender_version="test")
    labels = spec.labels
    sizes = spec.dataset.split_sizes()
    for split in SPLITS:
        for i in range(sizes[split]):
            write_sample(writer, split, i, labels[i % len(labels)])
    from pinscope_schema import ReferenceRow

    for i in range(spec.dataset.reference):
        rel = f"images/{i:06d}.png"
        write_png(writer.root / "reference" / rel, value=200 + i)
        writer.add_reference(ReferenceRow(file_name=rel, view="centre", index=i, seed=i))
    writer.flush()
    return writer.root
