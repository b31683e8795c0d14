"""Real consumers read the exports: pycocotools decodes PinScope's COCO masks pixel for pixel."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from pinscope_schema import read_rows
from pinscope_schema.exports import ExportOptions, run_export
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

# pycocotools' own numpy-2 deprecation (its __array__ call), once per decoded mask: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")


def test_pycocotools_decodes_the_exact_instance_masks(synthetic_dataset, tmp_path):
    out = tmp_path / "coco"
    run_export(ExportOptions("coco", str(synthetic_dataset), str(out), quiet=True))
    for split in ("train", "validation", "test"):
        coco = COCO(str(out / f"annotations/instances_{split}.json"))
        rows = {r.index: r for r in read_rows(synthetic_dataset / split / "metadata.jsonl")}
        assert sorted(coco.getImgIds()) == [i + 1 for i in sorted(rows)]
        checked = 0
        for image in coco.loadImgs(coco.getImgIds()):
            row = rows[image["sample_index"]]
            mask = cv2.imread(str(synthetic_dataset / split / row.mask_file), cv2.IMREAD_UNCHANGED)
            assert cv2.imread(str(out / "images" / split / image["file_name"])).shape[:2] == mask.shape
            anns = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
            assert sorted(a["attributes"]["pin_index"] + 1 for a in anns) == sorted(set(np.unique(mask).tolist()) - {0})
            for ann in anns:
                pin = mask == ann["attributes"]["pin_index"] + 1
                decoded = coco.annToMask(ann)
                assert decoded.shape == mask.shape and np.array_equal(decoded.astype(bool), pin)
                rle = mask_util.encode(np.asfortranarray(pin.astype(np.uint8)))
                assert ann["segmentation"]["counts"] == rle["counts"].decode()  # the same compressed RLE
                assert ann["area"] == int(pin.sum()) == int(mask_util.area(rle))
                assert ann["bbox"] == mask_util.toBbox(rle).tolist()
                expected = row.label if ann["attributes"]["pin_index"] == row.pin_index else "pin"
                assert coco.loadCats(ann["category_id"])[0]["name"] == expected
                checked += 1
        assert checked > 0


def test_yolo_boxes_match_the_masks(synthetic_dataset, tmp_path):
    out = tmp_path / "yolo"
    run_export(ExportOptions("yolo", str(synthetic_dataset), str(out), quiet=True))
    row = read_rows(synthetic_dataset / "test" / "metadata.jsonl")[1]
    mask = cv2.imread(str(synthetic_dataset / "test" / row.mask_file), cv2.IMREAD_UNCHANGED)
    h, w = mask.shape
    lines = (out / "labels/test" / f"{row.index:06d}.txt").read_text().splitlines()
    boxes = []
    for line in lines:
        cls, cx, cy, bw, bh = line.split()
        boxes.append((int(cls), round((float(cx) - float(bw) / 2) * w), round((float(cy) - float(bh) / 2) * h)))
    pins = sorted(set(np.unique(mask)) - {0})
    expected = []
    for value in pins:
        ys, xs = np.nonzero(mask == value)
        expected.append((1 if value - 1 == row.pin_index else 0, int(xs.min()), int(ys.min())))
    assert boxes == expected
    assert json.loads((out / "pinscope-export.json").read_text())["complete"] is True
