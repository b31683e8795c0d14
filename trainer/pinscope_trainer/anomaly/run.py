"""`train --task anomaly`: fit the unit space on the train split's OK renders only, score validation and
test per image and per pixel, and write the run folder.

    RUN/run_config.json            task, options, dataset, how many OK renders (and 0 defects) were used
    RUN/anomaly/model.npz          the unit space (per view: brightness, mean, inverse covariance)
    RUN/eval/anomaly_metrics.json  per split: image AUROC, pixel AUROC, AUPRO, threshold, false alarms, misses
    RUN/eval/anomaly_scores.csv    every validation/test image: split, index, file, label, view, score, flagged
    RUN/eval/anomaly_maps_test.npy the test split's pixel maps (float16, N x H x W)
    RUN/anomaly/index.html, maps.png, RUN/report.md

The threshold (for the OK/NG verdicts only; the AUROCs need none) is the highest image score among the
validation split's OK renders: it is chosen without a single defect sample.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
from pinscope_schema import atomic_file, atomic_write, write_json_atomic
from pinscope_schema.exports.common import Sample, defect_pixels

from ..data import PinDataset, unit_key
from ..errors import UsageError
from .metrics import anomaly_metrics
from .report import map_grid, write_anomaly_report, write_markdown
from .unit_space import UnitSpace, UnitSpaceOptions

EVAL_SPLITS = ("validation", "test")


def log(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def defect_masks(ds: PinDataset, split: str) -> np.ndarray:
    """(N, H, W) bool ground truth: the defective pin's pixels (a missing pin: its defect box), as exported."""
    width, height = ds.render_size[1], ds.render_size[0]
    out = np.zeros((len(ds.rows(split)), height, width), bool)
    for i, row in enumerate(ds.rows(split)):
        if row.pin_index < 0:
            continue
        if not row.mask_file:
            raise UsageError("--data", "--task anomaly scores pixels against the instance masks; render with masks")
        pixels = defect_pixels(Sample(split, row, ds.root / split), (width, height))
        out[i] = np.frombuffer(pixels, np.uint8).reshape(height, width) > 0
    return out


def check_run_folder(out: Path, config: dict, resume: bool) -> dict | None:
    """The finished run's metrics when `out` holds this very run (and --resume), None for a fresh run."""
    config_file = out / "run_config.json"
    if not config_file.exists():
        return None
    if not resume:
        raise UsageError("--out", f"{out} already holds a run; pass --resume to continue it or choose another folder")
    old = json.loads(config_file.read_text())
    differs = sorted(k for k in config if k != "paths" and old.get(k) != config[k])
    if differs:
        key = differs[0]
        raise UsageError("--resume", f"{out} was made with another config ({key} differs); use another --out")
    metrics = out / "eval" / "anomaly_metrics.json"
    return json.loads(metrics.read_text()) if metrics.exists() else None


def fit(ds: PinDataset, opts: UnitSpaceOptions) -> tuple[UnitSpace, int]:
    """The unit space of the train split's OK rows; defect rows are never read."""
    rows = ds.rows("train")
    ok = [i for i, r in enumerate(rows) if r.label in ds.ok_labels]
    if not ok:
        raise UsageError("--data", f"--task anomaly learns from OK renders, and the train split of {ds.root} has none")
    views = [rows[i].view for i in ok]
    small = [v for v in sorted(set(views)) if views.count(v) < 2]
    if small:
        raise UsageError("--data", f"--task anomaly needs at least 2 OK train renders per view; view {small[0]} has 1")
    images = np.asarray(ds.renders("train", ds.render_size))[ok]
    return UnitSpace.fit(images, views, opts), len(ok)


def own_line_scores(data, split: str = "test", opts: UnitSpaceOptions | None = None) -> dict:
    """Image AUROC, pixel AUROC and AUPRO of a unit space fitted on the dataset's own reference renders
    (the OK parts a line records when it starts) and scored on `split`: no training data at all, so it
    answers "does OK / NG hold on this line?" for any dataset (the robustness suite's shift sets)."""
    ds = PinDataset(data)
    images, units = ds.reference_units(ds.render_size)  # one unit space per camera and production line
    model = UnitSpace.fit(np.asarray(images), units, opts or UnitSpaceOptions())
    scored = score_split(model, ds, split, by_unit=True)
    is_defect = np.array([r.label not in ds.ok_labels for r in scored["rows"]])
    return anomaly_metrics(scored["scores"], is_defect, scored["maps"], scored["masks"])


def score_split(model: UnitSpace, ds: PinDataset, split: str, by_unit: bool = False) -> dict:
    """Scores and maps of a split against the unit space of each image's camera (and, `by_unit`, line)."""
    rows = ds.rows(split)
    images = np.asarray(ds.renders(split, ds.render_size))
    scores, maps = model.score(images, [unit_key(r) if by_unit else r.view for r in rows])
    return {"rows": rows, "images": images, "scores": scores, "maps": maps, "masks": defect_masks(ds, split)}


def split_results(scored: dict, ok_labels: set, threshold: float) -> dict:
    is_defect = np.array([r.label not in ok_labels for r in scored["rows"]])
    flagged = scored["scores"] > threshold
    return {
        "n": len(scored["rows"]),
        **anomaly_metrics(scored["scores"], is_defect, scored["maps"], scored["masks"]),
        "threshold": threshold,
        "false_alarms": int((flagged & ~is_defect).sum()),
        "missed": int((~flagged & is_defect).sum()),
    }


def per_class(scored: dict, threshold: float) -> list[dict]:
    table = []
    for name in dict.fromkeys(r.label for r in scored["rows"]):
        s = np.array([v for v, r in zip(scored["scores"], scored["rows"], strict=True) if r.label == name])
        table.append({"class": name, "n": len(s), "min_score": float(s.min()), "mean_score": float(s.mean()),
                      "max_score": float(s.max()), "flagged": int((s > threshold).sum())})  # fmt: skip
    return table


def write_scores(path: Path, scored: dict[str, dict], threshold: float) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["split", "index", "file_name", "label", "qeu_code", "view", "score", "flagged"])
    for split, s in scored.items():
        for row, score in zip(s["rows"], s["scores"], strict=True):
            writer.writerow([split, row.index, row.file_name, row.label, row.qeu_code, row.view, f"{score:.5f}",
                             int(score > threshold)])  # fmt: skip
    atomic_write(path, text.getvalue())


def write_outputs(out: Path, scored: dict, results: dict, meta: dict) -> None:
    eval_dir = out / "eval"
    eval_dir.mkdir(parents=True, exist_ok=True)
    test = scored["test"]
    with atomic_file(eval_dir / "anomaly_maps_test.npy", "wb") as f:
        np.save(f, test["maps"].astype(np.float16))
    write_scores(eval_dir / "anomaly_scores.csv", scored, meta["threshold"])
    classes = per_class(test, meta["threshold"])
    grid_image = map_grid(test["images"], test["maps"], test["masks"], test["rows"], test["scores"], meta["threshold"])
    write_anomaly_report(out, grid_image, results, classes, meta)
    write_markdown(out, results, classes, meta)
    write_json_atomic(eval_dir / "anomaly_metrics.json", results)  # last: its presence marks a finished run


def train_anomaly(
    data, out, cache_dir=None, resume: bool = False, quiet: bool = False, image_size=None, options=None
) -> dict:
    """Fit on OK train renders, evaluate validation and test, write RUN (see the module docstring)."""
    opts = options or UnitSpaceOptions()
    out = Path(out)
    ds = PinDataset(data, cache_dir=cache_dir)
    if image_size and tuple(image_size) != ds.render_size:
        size = "x".join(map(str, ds.render_size))
        raise UsageError("--image-size", f"--task anomaly scores pixels at the render size ({size}); leave it out")
    for split in EVAL_SPLITS:
        ds.rows(split)  # each must hold samples: one-line error before anything is written
    # "args" in a classification run's shape, so that run's --resume names the task as what differs
    config = {
        "task": "anomaly",
        "args": {"task": "anomaly"},
        "method": "unit-space",
        "options": opts.to_dict(),
        "spec_hash": ds.spec_hash,
        "paths": {"data": str(Path(data).resolve()), "out": str(out)},
    }
    finished = check_run_folder(out, config, resume)
    if finished is not None:
        log(quiet, f"{out}: this anomaly run is finished; nothing to do")
        return {"run": str(out), "task": "anomaly", **finished}
    model, n_ok = fit(ds, opts)
    log(quiet, f"anomaly: unit space of {n_ok} OK train renders ({', '.join(model.views)}), 0 defect samples")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "run_config.json", {**config, "train_ok": n_ok, "train_defects": 0})
    (out / "anomaly").mkdir(exist_ok=True)
    model.save(out / "anomaly" / "model.npz")
    scored = {split: score_split(model, ds, split) for split in EVAL_SPLITS}
    ok_val = [s for s, r in zip(scored["validation"]["scores"], scored["validation"]["rows"], strict=True)
              if r.label in ds.ok_labels]  # fmt: skip
    threshold = float(max(ok_val)) if ok_val else float(scored["validation"]["scores"].max())
    results = {split: split_results(s, ds.ok_labels, threshold) for split, s in scored.items()}
    meta = {"dataset": str(Path(data).resolve()), "spec_hash": ds.spec_hash, "train_ok": n_ok, "train_defects": 0,
            "views": sorted(model.views), "options": opts.to_dict(), "threshold": threshold}  # fmt: skip
    write_outputs(out, scored, results, meta)
    for split, r in results.items():
        print(f"{out}: anomaly {split}: image AUROC {r['image_auroc']:.4f}, pixel AUROC {r['pixel_auroc']:.4f}, "
              f"AUPRO {r['aupro']:.4f} on {r['n']} images (0 defect samples in training)", flush=True)  # fmt: skip
    log(quiet, f"  report: {out / 'report.md'}, maps: {out / 'anomaly' / 'index.html'}")
    return {"run": str(out), "task": "anomaly", **results}
