"""A small dataset with real instance masks, written with the standard library (for the export tests).

Pins are 2 x 2 pixel squares on a 4-pixel grid (9 columns across, 3 rows down, as the seed's cameras
see the array); the defective pin moves one pixel down (tilt_x), or is not drawn (missing). Each
sample's renders are grey PNGs whose value encodes split and index, so every file is distinct.
"""

from __future__ import annotations

from pathlib import Path

from conftest import write_png
from pinscope_schema import DatasetWriter, GenerationSpec, ReferenceRow, SampleRow
from pinscope_schema.exports.png import encode_grey8

WIDTH, HEIGHT = 36, 12
CLASSES = [
    {"name": "ok", "mode": "ok"},
    {"name": "tilt_x", "mode": "tilt_x", "low": 10, "high": 10},
    {"name": "missing", "mode": "missing"},
]


def export_spec(train=6, validation=3, test=6, mask=True) -> GenerationSpec:
    return GenerationSpec.from_dict(
        {
            "name": "export-test",
            "defects": {"classes": CLASSES},
            "render": {"engine": "WORKBENCH", "width": WIDTH, "height": HEIGHT, "samples": 1},
            "dataset": {"train": train, "validation": validation, "test": test, "reference": 1, "mask": mask},
        }
    )


def pin_box(index: int, shift: int = 0) -> list[int]:
    col, row = index % 3, index // 3  # pin index = row * cols + col, cols = 3, rows = 9
    x, y = row * 4 + 1, col * 4 + 1 + shift
    return [x, y, x + 2, y + 2]


def draw_mask(pin_index: int, label: str) -> bytes:
    pixels = bytearray(WIDTH * HEIGHT)
    for i in range(27):
        if i == pin_index and label == "missing":
            continue
        x0, y0, x1, y1 = pin_box(i, 1 if i == pin_index and label == "tilt_x" else 0)
        for y in range(y0, y1):
            pixels[y * WIDTH + x0 : y * WIDTH + x1] = bytes([i + 1]) * (x1 - x0)
    return bytes(pixels)


def make_export_dataset(root: Path, hidden_pin: int | None = None, **sizes) -> Path:
    """Write a complete dataset; `hidden_pin` gets an empty box [0,0,0,0] and no mask pixels."""
    spec = export_spec(**sizes)
    writer = DatasetWriter(root, spec, blender_version="test")
    labels = [c["name"] for c in CLASSES]
    for split, size in spec.dataset.split_sizes().items():
        for index in range(size):
            label = labels[index % 3]
            pin_index = -1 if label == "ok" else (index * 5 + 2) % 27
            stem = f"{index:06d}.png"
            folder = writer.split_dir(split)
            write_png(folder / "images" / stem, WIDTH, HEIGHT, value=index * 7 + len(split))
            mask = bytearray(draw_mask(pin_index, label))
            boxes = [pin_box(i, 1 if i == pin_index and label == "tilt_x" else 0) for i in range(27)]
            if hidden_pin is not None and hidden_pin != pin_index:
                boxes[hidden_pin] = [0, 0, 0, 0]
                mask = mask.replace(bytes([hidden_pin + 1]), b"\x00")
            if spec.dataset.mask:
                (folder / "masks").mkdir(parents=True, exist_ok=True)
                (folder / "masks" / stem).write_bytes(encode_grey8(WIDTH, HEIGHT, bytes(mask)))
            defect_box = None if pin_index < 0 else _union(pin_box(pin_index), boxes[pin_index])
            writer.add_sample(
                SampleRow(
                    file_name=f"images/{stem}", label=label, mode=label, split=split, index=index,
                    pin=None if pin_index < 0 else [pin_index % 3, pin_index // 3], pin_index=pin_index,
                    qeu_code="OK" if pin_index < 0 else f"{pin_index % 3 + 1}{pin_index // 3 + 1}X10",
                    mask_file=f"masks/{stem}" if spec.dataset.mask else "", pin_boxes=boxes, defect_box=defect_box,
                )
            )  # fmt: skip
    write_png(writer.root / "reference" / "images" / "000000.png", WIDTH, HEIGHT, value=9)
    writer.add_reference(ReferenceRow(file_name="images/000000.png", index=0))
    writer.flush()
    return writer.root


def _union(a, b):
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
