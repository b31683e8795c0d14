"""Draw the README's picture strip from a real dataset, run and attention report (trainer env).

    .venvs/trainer/bin/python tools/make_readme_images.py --data data/default --run runs/default \
        --report reports/default/attention --predictions predictions/default --out docs/img

Writes docs/img/classes.png (one test render per class), docs/img/triplet.png (render, twin, |difference|,
instance mask, SOART3 metric image of one defective sample), and copies the run's training curves and the
attention report's epoch grid, and (with --predictions) docs/img/predict.png from `make predict`'s
overlays. Every picture comes from project outputs; nothing is drawn by hand.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from pinscope_schema import read_rows
from pinscope_trainer.features.soart3 import Soart3Options, soart3_maps, upsample_to

MAX_WIDTH = 1000
SCALE = 2  # renders are small (288 x 96); double them so the README shows pin detail


def label(image: np.ndarray, text: str) -> np.ndarray:
    """A caption bar above the image (Hershey fonts are built into OpenCV: nothing to download)."""
    bar = np.full((22, image.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    return np.vstack([bar, image])


def load(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"error: cannot read {path}")
    return cv2.resize(image, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)


def box(image: np.ndarray, rect, colour=(0, 0, 255)) -> np.ndarray:
    if rect:
        x0, y0, x1, y1 = (v * SCALE for v in rect)
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), colour, 2)
    return image


def class_strip(split_dir: Path, rows) -> np.ndarray:
    """One render per class, all from the same camera where possible, the defect boxed."""
    views = {r.view for r in rows}
    view = "centre" if "centre" in views else sorted(views)[0]
    picks = {}
    for row in rows:
        if row.view == view and row.label not in picks:
            picks[row.label] = row
    tiles = []
    for name, row in picks.items():
        image = box(load(split_dir / row.file_name), row.defect_box)
        tiles.append(label(image, f"{name}  {row.qeu_code}  ({row.view} camera)"))
    return np.vstack(tiles)


def triplet(split_dir: Path, rows) -> np.ndarray:
    """Render, twin, |render - twin|, mask and SOART3 (against the twin) of one defective sample."""
    row = next(r for r in rows if r.mode != "ok" and r.twin_file and r.mask_file)
    render = cv2.imread(str(split_dir / row.file_name))
    twin = cv2.imread(str(split_dir / row.twin_file))
    mask = cv2.imread(str(split_dir / row.mask_file), cv2.IMREAD_UNCHANGED)
    diff = np.abs(render.astype(np.int16) - twin.astype(np.int16)).sum(axis=2)
    diff = cv2.applyColorMap(np.clip(diff * 4, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    mask_view = cv2.applyColorMap(
        (mask.astype(np.float32) * 255 / max(1, mask.max())).astype(np.uint8), cv2.COLORMAP_JET
    )
    mask_view[mask == 0] = 0
    opts = Soart3Options()
    rgb = lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0  # noqa: E731
    maps = soart3_maps(rgb(twin), rgb(render), opts)[0]  # (3, h, w): Y1, Y2, Y3
    maps = upsample_to(maps, render.shape[0], render.shape[1], opts.region)
    y2 = maps[1] / max(1e-6, float(maps[1].max()))
    soart = cv2.applyColorMap((y2 * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    parts = [
        ("render", render),
        ("defect-free twin", twin),
        ("|render - twin|", diff),
        ("instance mask", mask_view),
        ("SOART3 Y2 vs twin", soart),
    ]
    tiles = []
    for name, image in parts:
        big = cv2.resize(image, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
        tiles.append(label(box(big, row.defect_box, (255, 255, 255)), f"{name}  [{row.qeu_code}]"))
    return np.vstack(tiles)


def prediction_strip(predictions: Path) -> np.ndarray | None:
    """Overlays `predict` drew (the attention map, the pin it names boxed), one per predicted class,
    right ones first, stacked and doubled: predict's own pictures, untouched but for the scale."""
    file = predictions / "predictions.csv"
    if not file.exists():
        return None
    with open(file, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["overlay"] and not r["error"]]
    picks = {}
    for row in sorted(rows, key=lambda r: r["correct"] != "True"):
        picks.setdefault(row["class"], row)
    tiles = [load(predictions / row["overlay"]) for _, row in sorted(picks.items())]
    return np.vstack(tiles) if tiles else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--predictions", help="a predict --out folder: docs/img/predict.png from its overlays")
    p.add_argument("--out", default="docs/img")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    split_dir = Path(args.data) / "test"
    rows = read_rows(split_dir / "metadata.jsonl")
    cv2.imwrite(str(out / "classes.png"), class_strip(split_dir, rows))
    cv2.imwrite(str(out / "triplet.png"), triplet(split_dir, rows))
    strip = prediction_strip(Path(args.predictions)) if args.predictions else None
    if strip is not None:
        cv2.imwrite(str(out / "predict.png"), strip)
    report = Path(args.report)
    scores = json.loads((report / "scores.json").read_text()) if (report / "scores.json").exists() else {}
    methods = scores.get("methods", [])
    # One epoch grid is enough for the README; the gradient method is the class-specific one.
    method = "gradient" if "gradient" in methods else (methods[0] if methods else "")
    copies = {
        Path(args.run) / "eval" / "curves.png": out / "curves.png",
        report / f"epochs_{method}.png": out / "attention_epochs.png",
        report / "scores_over_epochs.png": out / "attention_scores.png",
    }
    for src, dst in copies.items():
        if not src.exists():
            print(f"note: {src} not found; {dst.name} not updated", file=sys.stderr)
            continue
        image = cv2.imread(str(src), cv2.IMREAD_COLOR)
        if image.shape[1] > MAX_WIDTH:  # keep the repository small: README pictures need no more
            factor = MAX_WIDTH / image.shape[1]
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(dst), image)
    print(f"wrote pictures to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
