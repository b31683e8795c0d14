"""Exports: layouts, the annotation rules, determinism, resume after a kill, and the bad-input lines."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from export_helpers import HEIGHT, WIDTH, draw_mask, make_export_dataset, pin_box
from pinscope_schema import PinRecord, SampleRow
from pinscope_schema.exports import ExportOptions, run_export
from pinscope_schema.exports.common import Sample, defect_pixels, pin_annotations
from pinscope_schema.exports.png import decode_grey, encode_grey8, read_grey

FORMATS = ("coco", "yolo", "mvtec", "anomalib-csv")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_export_dataset(tmp_path_factory.mktemp("export") / "ds")


def export(fmt, data, out):
    return run_export(ExportOptions(fmt, str(data), str(out), quiet=True))


def cli(*args, env=None):
    env = {**os.environ, "PYTHONPATH": str(REPO / "shared"), **(env or {})}
    cmd = [sys.executable, "-m", "pinscope_schema.export", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_mvtec_layout_holds_ok_train_renders_and_the_whole_test_split(dataset, tmp_path):
    export("mvtec", dataset, tmp_path / "mv")
    files = set(tree(tmp_path / "mv"))
    assert {f for f in files if f.startswith("train/")} == {"train/good/000000.png", "train/good/000003.png"}
    assert {f for f in files if f.startswith("test/")} == {
        "test/good/000000.png", "test/good/000003.png", "test/tilt_x/000001.png", "test/tilt_x/000004.png",
        "test/missing/000002.png", "test/missing/000005.png",
    }  # fmt: skip
    assert (tmp_path / "mv/test/tilt_x/000001.png").read_bytes() == (dataset / "test/images/000001.png").read_bytes()
    gt = read_grey(tmp_path / "mv/ground_truth/tilt_x/000001_mask.png")
    pin = (1 * 5 + 2) % 27  # the helper's defective pin of test sample 1
    expected = bytes(255 if v == pin + 1 else 0 for v in draw_mask(pin, "tilt_x"))
    assert (gt.width, gt.height, gt.pixels) == (WIDTH, HEIGHT, expected)


def test_a_missing_pin_gets_its_defect_box_as_ground_truth(dataset, tmp_path):
    export("mvtec", dataset, tmp_path / "mv")
    gt = read_grey(tmp_path / "mv/ground_truth/missing/000002_mask.png")
    x0, y0, x1, y1 = pin_box((2 * 5 + 2) % 27)
    inside = {y * WIDTH + x for y in range(y0, y1) for x in range(x0, x1)}
    assert [i for i, v in enumerate(gt.pixels) if v] == sorted(inside)
    assert set(gt.pixels) == {0, 255}


def test_coco_ids_categories_and_the_defect_as_its_own_category(dataset, tmp_path):
    export("coco", dataset, tmp_path / "coco")
    doc = json.loads((tmp_path / "coco/annotations/instances_test.json").read_text())
    assert [(c["id"], c["name"]) for c in doc["categories"]] == [(1, "pin"), (2, "tilt_x"), (3, "missing")]
    assert [i["id"] for i in doc["images"]] == [1, 2, 3, 4, 5, 6]
    assert [a["id"] for a in doc["annotations"]] == list(range(1, len(doc["annotations"]) + 1))
    per_image = {i["id"]: [a for a in doc["annotations"] if a["image_id"] == i["id"]] for i in doc["images"]}
    assert [len(per_image[i]) for i in range(1, 7)] == [27, 27, 27, 27, 27, 27]  # missing: its defect box
    tilted = [a for a in per_image[2] if a["category_id"] != 1]
    assert [(a["category_id"], a["attributes"]["pin_index"], a["bbox"], a["area"]) for a in tilted] == [
        (2, 7, [9, 6, 2, 2], 4)
    ]
    missing = [a for a in per_image[3] if a["category_id"] == 3][0]
    assert missing["attributes"] == {"pin_index": 12, "defect": "missing", "visible": False}
    assert all(a["area"] > 0 and a["segmentation"]["counts"] for a in doc["annotations"])
    assert all(a["category_id"] >= 1 for a in doc["annotations"])


def test_a_hidden_pin_is_not_annotated(tmp_path):
    data = make_export_dataset(tmp_path / "ds", hidden_pin=4)
    export("coco", data, tmp_path / "coco")
    export("yolo", data, tmp_path / "yolo")
    doc = json.loads((tmp_path / "coco/annotations/instances_train.json").read_text())
    ok_image = [a for a in doc["annotations"] if a["image_id"] == 1]
    assert len(ok_image) == 26 and 4 not in [a["attributes"]["pin_index"] for a in ok_image]
    assert len((tmp_path / "yolo/labels/train/000000.txt").read_text().splitlines()) == 26


def test_without_masks_coco_has_boxes_only_and_mvtec_is_refused(tmp_path):
    data = make_export_dataset(tmp_path / "ds", mask=False)
    export("coco", data, tmp_path / "coco")
    ann = json.loads((tmp_path / "coco/annotations/instances_train.json").read_text())["annotations"][0]
    assert "segmentation" not in ann and ann["bbox"] == [1, 1, 2, 2] and ann["area"] == 4
    result = cli("--format", "mvtec", data, tmp_path / "mv")
    assert (result.returncode, result.stderr) == (
        2, "error: DATA: mvtec needs the instance masks; render with dataset.mask = true\n"
    )  # fmt: skip
    assert not (tmp_path / "mv").exists()


def test_yolo_labels_and_data_yaml(dataset, tmp_path):
    export("yolo", dataset, tmp_path / "yolo")
    lines = (tmp_path / "yolo/labels/test/000001.txt").read_text().splitlines()
    assert len(lines) == 27
    cls, cx, cy, w, h = lines[7].split()
    x0, y0, x1, y1 = pin_box(7, shift=1)
    assert cls == "1"
    assert (float(cx), float(cy)) == pytest.approx(((x0 + x1) / 2 / WIDTH, (y0 + y1) / 2 / HEIGHT), abs=1e-6)
    assert (float(w), float(h)) == pytest.approx((2 / WIDTH, 2 / HEIGHT), abs=1e-6)
    yaml = (tmp_path / "yolo/data.yaml").read_text()
    assert "train: images/train\nval: images/validation\ntest: images/test\nnc: 3\n" in yaml
    assert "names:\n  0: pin\n  1: tilt_x\n  2: missing\n" in yaml and "\npath:" not in yaml


def test_anomalib_csv_rows(dataset, tmp_path):
    export("anomalib-csv", dataset, tmp_path / "csv")
    with open(tmp_path / "csv/samples.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["image_path", "label_index", "split", "mask_path"]
    assert [(r["split"], r["label_index"]) for r in rows] == [("train", "0")] * 2 + [
        ("test", label) for label in "011011"
    ]  # fmt: skip
    for r in rows:
        assert (tmp_path / "csv" / r["image_path"]).is_file()
        assert (r["mask_path"] == "") == (r["label_index"] == "0")
        if r["mask_path"]:
            assert set(read_grey(tmp_path / "csv" / r["mask_path"]).pixels) == {0, 255}


@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_are_deterministic_and_a_second_run_does_nothing(dataset, tmp_path, fmt):
    first = export(fmt, dataset, tmp_path / "a")
    export(fmt, dataset, tmp_path / "b")
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "a").rglob("*")}
    again = cli("--format", fmt, dataset, tmp_path / "a")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "a").rglob("*")} == before
    assert first["written"] == first["samples"] and first["complete"] == "now"


@pytest.mark.parametrize("fmt", ("coco", "mvtec"))
def test_a_killed_export_continues_where_it_stopped(dataset, tmp_path, fmt):
    killed = cli("--format", fmt, dataset, tmp_path / "k", env={"PINSCOPE_EXPORT_KILL_AFTER": "3"})
    assert killed.returncode == -signal.SIGKILL
    record = json.loads((tmp_path / "k/pinscope-export.json").read_text())
    assert record["complete"] is False
    resumed = cli("--format", fmt, dataset, tmp_path / "k", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "3 already there" in resumed.stdout
    export(fmt, dataset, tmp_path / "whole")
    assert tree(tmp_path / "k") == tree(tmp_path / "whole")


def test_bad_input_is_one_line_and_writes_nothing(dataset, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    export("coco", dataset, tmp_path / "coco")
    incomplete = tmp_path / "incomplete"
    shutil.copytree(dataset, incomplete)
    lines = (incomplete / "test/metadata.jsonl").read_text().splitlines(keepends=True)
    (incomplete / "test/metadata.jsonl").write_text("".join(lines[:-1]))
    cases = [
        (("--format", "voc", dataset, tmp_path / "o"), "error: --format: must be one of coco, yolo,"),
        ((dataset, tmp_path / "o"), "error: --format: required"),
        (("--format", "coco", tmp_path / "nowhere", tmp_path / "o"), "error: DATA: "),
        (("--format", "coco", incomplete, tmp_path / "o"), "error: DATA: "),
        (("--format", "coco", dataset, busy), "error: OUT: "),
        (("--format", "coco", dataset, busy / "notes.txt"), "error: OUT: "),
        (("--format", "coco", dataset, dataset / "export"), "error: OUT: "),
        (("--format", "yolo", dataset, tmp_path / "coco"), "error: OUT: "),
    ]
    before = tree(tmp_path)
    for args, start in cases:
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith(start) and result.stderr.count("\n") == 1, (args, result.stderr)
    assert tree(tmp_path) == before and not (tmp_path / "o").exists()


def test_png_reader_undoes_every_filter():
    import struct
    import zlib

    width, rows = 5, [[0, 3, 3, 9, 250], [1, 3, 200, 9, 4], [7, 7, 7, 0, 255], [2, 4, 6, 8, 10], [9, 9, 1, 1, 0]]

    def filtered(kind, row, prev):
        out = []
        for i, x in enumerate(row):
            a, b, c = (row[i - 1] if i else 0), prev[i], (prev[i - 1] if i else 0)
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
            out.append((x - [0, a, b, (a + b) >> 1, paeth][kind]) & 0xFF)
        return bytes([kind] + out)

    raw, prev = b"", [0] * width
    for kind, row in enumerate(rows):
        raw += filtered(kind, row, prev)
        prev = row

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    blob = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, 5, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))  # fmt: skip
    assert decode_grey(blob).values() == [v for row in rows for v in row]


def test_sixteen_bit_masks_give_the_same_regions_as_a_plain_count():
    """Grids of 255 pins or more are written as 16-bit masks: runs, boxes, RLE and binary masks still hold."""
    import struct
    import zlib

    from pinscope_schema.exports.masks import binary_mask, pin_regions

    width, height = 7, 5
    values = [((x // 2) + 3 * (y // 2)) * 130 % 700 for y in range(height) for x in range(width)]  # up to 650
    raw = b"".join(b"\x00" + struct.pack(f">{width}H", *values[y * width : (y + 1) * width]) for y in range(height))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    blob = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))  # fmt: skip
    img = decode_grey(blob)
    assert img.depth == 2 and img.values() == values
    regions = pin_regions(img)
    assert sorted(regions) == sorted({v - 1 for v in values if v})
    for pin, region in regions.items():
        where = [(i % width, i // width) for i, v in enumerate(values) if v == pin + 1]
        xs, ys = [x for x, _ in where], [y for _, y in where]
        assert region.area == len(where)
        assert region.bbox() == [min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1]
        column_major = [values[y * width + x] == pin + 1 for x in range(width) for y in range(height)]
        counts, run, current = [], 0, False
        for inside in column_major:
            if inside != current:
                counts.append(run)
                run, current = 0, inside
            run += 1
        counts.append(run)
        assert region.counts() == counts
        assert binary_mask(img, pin + 1) == bytes(255 if v == pin + 1 else 0 for v in values)


def test_every_defective_pin_of_a_row_is_annotated_and_in_the_ground_truth(tmp_path):
    """A row with several defective pins (`defects`): each gets the defect class, a missing one its box."""
    moved, gone = 4, 11
    mask = bytearray(draw_mask(moved, "tilt_x"))
    mask = mask.replace(bytes([gone + 1]), b"\x00")  # the second pin is missing: no pixels of its own
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "000000.png").write_bytes(encode_grey8(WIDTH, HEIGHT, bytes(mask)))
    boxes = [pin_box(i, 1 if i == moved else 0) for i in range(27)]
    records = [
        PinRecord(pin=[moved % 3, moved // 3], pin_index=moved, box=[*pin_box(moved)[:2], *boxes[moved][2:]]),
        PinRecord(pin=[gone % 3, gone // 3], pin_index=gone, box=pin_box(gone)),
    ]
    row = SampleRow(
        file_name="images/000000.png", label="tilt_x", mode="tilt_x", pin=records[0].pin, pin_index=moved,
        mask_file="masks/000000.png", pin_boxes=boxes, defect_box=records[0].box, defects=records,
    )  # fmt: skip
    sample = Sample("test", row, tmp_path)
    found = {a.pin_index: a for a in pin_annotations(sample, (WIDTH, HEIGHT))}
    assert found[moved].category == found[gone].category == "tilt_x"
    assert found[moved].visible and not found[gone].visible
    assert sum(a.category == "tilt_x" for a in found.values()) == 2
    truth = defect_pixels(sample, (WIDTH, HEIGHT))
    x0, y0, x1, y1 = pin_box(gone)
    expected = {i for i, v in enumerate(mask) if v == moved + 1} | {
        y * WIDTH + x for y in range(y0, y1) for x in range(x0, x1)
    }
    assert {i for i, v in enumerate(truth) if v} == expected and set(truth) == {0, 255}
