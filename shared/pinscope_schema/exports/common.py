"""What every export format shares: the samples to export, per-pin annotations, copying a render.

Categories (COCO ids; YOLO class = COCO id - 1): `pin` first, then each defect class of the spec that
is not an OK class, in spec order. A pin is annotated when it shows: its box in the row is not empty
and, where the dataset has masks, it has mask pixels. The defective pins (every one the row lists in
`defects`; the row's one pin in rows written before those) are annotated with the defect class instead
of `pin`; a defective pin with no pixels of its own (a `missing` pin) is annotated with its defect box,
where the pin belongs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write
from ..records import SampleRow
from .masks import Region, binary_mask, fill_box, pin_regions
from .png import read_grey

PIN = "pin"


@dataclass(frozen=True)
class Sample:
    """One row to export, with where its files are."""

    split: str
    row: SampleRow
    folder: Path  # the split folder in DATA

    @property
    def stem(self) -> str:
        """Output name: the sample index, as the renderer names its files (unique in a split)."""
        return f"{self.row.index:06d}"

    @property
    def image(self) -> Path:
        return self.folder / self.row.file_name

    @property
    def suffix(self) -> str:
        return Path(self.row.file_name).suffix.lower()

    @property
    def mask(self) -> Path | None:
        return self.folder / self.row.mask_file if self.row.mask_file else None


@dataclass(frozen=True)
class PinAnnotation:
    pin_index: int
    category: str  # PIN or a defect class name
    bbox: list  # [x, y, w, h] pixels
    area: int  # pixels of the mask (box area where there is no mask)
    region: Region | None  # None: no mask (boxes only)
    visible: bool  # False: a defective pin without pixels of its own, annotated with its defect box


def categories(spec) -> list[str]:
    """Category names in id order: `pin`, then the defect classes (COCO id = position + 1)."""
    return [PIN] + [c.name for c in spec.defects.classes if c.mode != "ok"]


def _box_xywh(box) -> list[int] | None:
    x0, y0, x1, y1 = box
    return [x0, y0, x1 - x0, y1 - y0] if x1 > x0 and y1 > y0 else None


def defective_pins(row: SampleRow) -> dict:
    """Pin index -> defect box of each defective pin of a row (its per-pin records, else its one pin)."""
    if row.defects:
        return {d.pin_index: d.box for d in row.defects}
    return {row.pin_index: row.defect_box} if row.pin_index >= 0 else {}


def pin_annotations(sample: Sample, size: tuple[int, int]) -> list[PinAnnotation]:
    """The sample's annotations in pin-index order (see the module docstring for the rules)."""
    row = sample.row
    regions = pin_regions(read_grey(sample.mask)) if sample.mask else None
    defective = defective_pins(row)
    found = []
    for index, box in enumerate(row.pin_boxes):
        category = row.label if index in defective else PIN
        xywh = _box_xywh(box)
        if xywh is None:
            continue  # fully hidden pin: nothing to annotate
        if regions is None:
            found.append(PinAnnotation(index, category, xywh, xywh[2] * xywh[3], None, True))
        elif index in regions:
            region = regions[index]
            found.append(PinAnnotation(index, category, region.bbox(), region.area, region, True))
    for index, box in defective.items():
        if box and not any(a.pin_index == index for a in found):
            found += _unseen_defect(row.label, index, box, size, regions is not None)
    return found


def _unseen_defect(label: str, index: int, box, size: tuple[int, int], masks: bool) -> list[PinAnnotation]:
    """A defective pin that shows no pixels of its own (missing): its defect box, as a filled region."""
    width, height = size
    x0, y0 = max(0, box[0]), max(0, box[1])
    x1, y1 = min(width, box[2]), min(height, box[3])
    xywh = _box_xywh([x0, y0, x1, y1])
    if xywh is None:
        return []
    region = box_region([x0, y0, x1, y1], width, height) if masks else None
    return [PinAnnotation(index, label, xywh, xywh[2] * xywh[3], region, False)]


def box_region(box, width: int, height: int) -> Region:
    """A filled box [x0, y0, x1, y1) as column-major runs (one run per column)."""
    x0, y0, x1, y1 = box
    return Region(tuple((x * height + y0, y1 - y0) for x in range(x0, x1)), width, height)


def defect_pixels(sample: Sample, size: tuple[int, int]) -> bytes:
    """Binary (0/255) row-major ground truth of the defect: every defective pin's mask pixels, or its
    defect box where the pin shows no pixels of its own (a missing pin)."""
    width, height = size
    grey, union = read_grey(sample.mask), 0
    for index, box in defective_pins(sample.row).items():
        pixels = binary_mask(grey, index + 1)
        if b"\xff" not in pixels and box:
            pixels = fill_box(width, height, box)
        union |= int.from_bytes(pixels, "big")  # 0/255 bytes: a bitwise or is the union
    return union.to_bytes(width * height, "big")


def copy_file(source: Path, target: Path) -> None:
    """Copy a render into the export (a copy, not a link: editing the export never changes DATA)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, source.read_bytes())


def exists(out: Path, *relative: str) -> bool:
    """True when every output of a sample is there (each was written atomically: there means whole)."""
    return all(os.path.exists(out / rel) for rel in relative)
