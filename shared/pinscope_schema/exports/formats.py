"""The four export formats: where each sample goes and what is written once at the end.

Every format copies the renders it exports (PNG bytes unchanged) and names them by sample index.

    coco          images/<split>/<index>.png, annotations/instances_<split>.json
    yolo          images/<split>/<index>.png, labels/<split>/<index>.txt, data.yaml
    mvtec         train/good/, test/good/, test/<class>/, ground_truth/<class>/<index>_mask.png
    anomalib-csv  images/<split>/, masks/<split>/<index>_mask.png, samples.csv (anomalib's Tabular)

The anomaly formats (mvtec, anomalib-csv) hold the OK renders of the train split for training and the
whole test split for testing, as MVTec AD does; the validation split and train defects are left out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write, write_json_atomic
from .common import PIN, Sample, categories, copy_file, defect_pixels, pin_annotations
from .masks import rle_string
from .png import encode_grey8

GOOD = "good"  # MVTec AD's folder name for defect-free images


@dataclass(frozen=True)
class Context:
    out: Path
    manifest: object  # pinscope_schema.Manifest of DATA
    size: tuple  # (width, height) of the renders
    ok_labels: frozenset  # class names whose mode is ok

    def is_ok(self, sample: Sample) -> bool:
        return sample.row.label in self.ok_labels


@dataclass(frozen=True)
class Format:
    name: str
    needs_masks: bool
    anomaly: bool  # True: OK train renders + the whole test split; False: every split, every row
    outputs: Callable  # (ctx, sample) -> [paths relative to OUT]
    write: Callable  # (ctx, sample) -> None: writes those outputs
    finish: Callable  # (ctx, samples) -> [paths written once, at the end]


def _image_rel(s: Sample) -> str:
    return f"images/{s.split}/{s.stem}{s.suffix}"


# --- COCO -----------------------------------------------------------------------------------------
def _coco_write(ctx: Context, s: Sample) -> None:
    copy_file(s.image, ctx.out / _image_rel(s))


def coco_document(ctx: Context, split: str, samples: list[Sample]) -> dict:
    """One split's COCO instances file (ids from 1; category ids from 1; see docs/exports.md)."""
    names = categories(ctx.manifest.spec)
    ids = {name: i + 1 for i, name in enumerate(names)}
    width, height = ctx.size
    images, annotations = [], []
    for s in samples:
        row = s.row
        image_id = row.index + 1
        images.append(
            {"id": image_id, "file_name": f"{s.stem}{s.suffix}", "width": width, "height": height,
             "label": row.label, "qeu_code": row.qeu_code, "view": row.view, "sample_index": row.index}
        )  # fmt: skip
        for a in pin_annotations(s, ctx.size):
            ann = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": ids[a.category],
                "bbox": a.bbox,
                "area": a.area,
                "iscrowd": 0,
                "attributes": {"pin_index": a.pin_index, "defect": None if a.category == PIN else a.category,
                               "visible": a.visible},
            }  # fmt: skip
            if a.region is not None:
                ann["segmentation"] = {"size": [height, width], "counts": rle_string(a.region.counts())}
            annotations.append(ann)
    spec = ctx.manifest.spec
    return {
        "info": {"description": f"PinScope {spec.name} ({split})", "version": ctx.manifest.spec_hash,
                 "date_created": ctx.manifest.created, "contributor": "PinScope"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": ids[n], "name": n, "supercategory": PIN if n == PIN else "defect"} for n in names],
    }  # fmt: skip


def _coco_finish(ctx: Context, samples: list[Sample]) -> list[str]:
    written = []
    for split in _splits(samples):
        rel = f"annotations/instances_{split}.json"
        (ctx.out / "annotations").mkdir(exist_ok=True)
        write_json_atomic(ctx.out / rel, coco_document(ctx, split, [s for s in samples if s.split == split]), None)
        written.append(rel)
    return written


# --- YOLO -----------------------------------------------------------------------------------------
def _yolo_rels(s: Sample) -> list[str]:
    return [_image_rel(s), f"labels/{s.split}/{s.stem}.txt"]


def yolo_lines(ctx: Context, s: Sample) -> str:
    """`class cx cy w h` per annotation, normalised to the image size (class = COCO id - 1)."""
    ids = {name: i for i, name in enumerate(categories(ctx.manifest.spec))}
    width, height = ctx.size
    lines = []
    for a in pin_annotations(s, ctx.size):
        x, y, w, h = a.bbox
        centre = f"{(x + w / 2) / width:.6f} {(y + h / 2) / height:.6f}"
        lines.append(f"{ids[a.category]} {centre} {w / width:.6f} {h / height:.6f}")
    return "".join(line + "\n" for line in lines)


def _yolo_write(ctx: Context, s: Sample) -> None:
    image, labels = _yolo_rels(s)
    copy_file(s.image, ctx.out / image)
    (ctx.out / labels).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(ctx.out / labels, yolo_lines(ctx, s))


def _yolo_finish(ctx: Context, samples: list[Sample]) -> list[str]:
    names = categories(ctx.manifest.spec)
    keys = {"train": "train", "validation": "val", "test": "test"}
    lines = [
        f"# PinScope {ctx.manifest.spec.name} (spec_hash {ctx.manifest.spec_hash}), YOLO detection labels.",
        "# No 'path': the dataset root is this file's folder, so the export can be moved.",
    ]
    lines += [f"{keys[split]}: images/{split}" for split in _splits(samples)]
    lines += [f"nc: {len(names)}", "names:"] + [f"  {i}: {name}" for i, name in enumerate(names)]
    atomic_write(ctx.out / "data.yaml", "\n".join(lines) + "\n")
    return ["data.yaml"]


# --- MVTec AD -------------------------------------------------------------------------------------
def _mvtec_rels(ctx: Context, s: Sample) -> list[str]:
    if ctx.is_ok(s):
        return [f"{s.split}/{GOOD}/{s.stem}{s.suffix}"]
    label = s.row.label
    return [f"test/{label}/{s.stem}{s.suffix}", f"ground_truth/{label}/{s.stem}_mask.png"]


def _write_defect_mask(ctx: Context, s: Sample, rel: str) -> None:
    (ctx.out / rel).parent.mkdir(parents=True, exist_ok=True)
    width, height = ctx.size
    atomic_write(ctx.out / rel, encode_grey8(width, height, defect_pixels(s, ctx.size)))


def _mvtec_write(ctx: Context, s: Sample) -> None:
    rels = _mvtec_rels(ctx, s)
    copy_file(s.image, ctx.out / rels[0])
    if len(rels) > 1:
        _write_defect_mask(ctx, s, rels[1])


# --- anomalib Tabular CSV -------------------------------------------------------------------------
def _csv_rels(ctx: Context, s: Sample) -> list[str]:
    if ctx.is_ok(s):
        return [_image_rel(s)]
    return [_image_rel(s), f"masks/{s.split}/{s.stem}_mask.png"]


def _csv_write(ctx: Context, s: Sample) -> None:
    rels = _csv_rels(ctx, s)
    copy_file(s.image, ctx.out / rels[0])
    if len(rels) > 1:
        _write_defect_mask(ctx, s, rels[1])


def _csv_finish(ctx: Context, samples: list[Sample]) -> list[str]:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["image_path", "label_index", "split", "mask_path"])
    for s in samples:
        rels = _csv_rels(ctx, s)
        writer.writerow([rels[0], 0 if ctx.is_ok(s) else 1, s.split, rels[1] if len(rels) > 1 else ""])
    atomic_write(ctx.out / "samples.csv", text.getvalue())
    return ["samples.csv"]


def _nothing(ctx: Context, samples: list[Sample]) -> list[str]:
    return []


def _splits(samples: list[Sample]) -> list[str]:
    return list(dict.fromkeys(s.split for s in samples))


FORMATS = {
    f.name: f
    for f in (
        Format("coco", False, False, lambda ctx, s: [_image_rel(s)], _coco_write, _coco_finish),
        Format("yolo", False, False, lambda ctx, s: _yolo_rels(s), _yolo_write, _yolo_finish),
        Format("mvtec", True, True, _mvtec_rels, _mvtec_write, _nothing),
        Format("anomalib-csv", True, True, _csv_rels, _csv_write, _csv_finish),
    )
}
