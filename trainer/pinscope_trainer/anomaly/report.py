"""The anomaly-map grid and the HTML page of an anomaly run (RUN/anomaly/index.html).

The maps share one colour scale (0 .. twice the image threshold), so an OK render looks quiet and a
defect bright -- a per-picture stretch would make every map look alike. The ground truth is drawn as
the outline of the defect mask. Which samples are shown: per class, the lowest-scored (the hardest) and
the highest-scored, so the grid shows both the margin and the failures.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from pinscope_schema import atomic_write

from ..attention.report import captioned, figure, grid, save_png, scaled, table, write_html

PER_CLASS = 2  # lowest- and highest-scored sample of each class


def heat(values: np.ndarray, top: float) -> np.ndarray:
    """RGB uint8 JET colouring of a map on the fixed scale 0..top."""
    scaled_values = np.clip(values / max(top, 1e-9), 0.0, 1.0)
    return cv2.cvtColor(cv2.applyColorMap((scaled_values * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def outline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the defect mask's outline in white."""
    image = np.ascontiguousarray(image.copy())
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(image, contours, -1, (255, 255, 255), 1)
    return image


def pick(labels: list[str], scores: np.ndarray) -> list[int]:
    """Per class (in first-seen order): the indices of its lowest- and highest-scored samples."""
    chosen = []
    for name in dict.fromkeys(labels):
        members = [i for i, label in enumerate(labels) if label == name]
        ranked = sorted(members, key=lambda i: scores[i])
        chosen += list(dict.fromkeys([ranked[0], ranked[-1]][:PER_CLASS]))
    return chosen


def map_grid(images, maps, masks, rows, scores, threshold: float) -> np.ndarray:
    """Rows of (render with the defect outline, anomaly map, map over the render)."""
    labels = [r.label for r in rows]
    cells, titles = [], []
    for i in pick(labels, scores):
        shown = outline(images[i], masks[i])
        colour = heat(maps[i], 2 * threshold)
        mixed = (0.5 * images[i].astype(np.float32) + 0.5 * colour.astype(np.float32)).astype(np.uint8)
        verdict = "NG" if scores[i] > threshold else "OK"
        cells.append(
            [
                scaled(captioned(shown, f"{rows[i].label} {rows[i].qeu_code} {rows[i].view}")),
                scaled(captioned(colour, f"score {scores[i]:.2f} -> {verdict}")),
                scaled(captioned(outline(mixed, masks[i]), f"#{rows[i].index}")),
            ]
        )
        titles.append(f"{rows[i].label}\n#{rows[i].index}")
    return grid(cells, row_titles=titles, col_titles=["render + defect", "anomaly map", "overlay"])


def write_anomaly_report(out: Path, grid_image: np.ndarray, results: dict, per_class: list[dict], meta: dict) -> Path:
    """index.html: the metrics, the per-class table and the map grid (pictures embedded)."""
    folder = out / "anomaly"
    picture = save_png(folder / "maps.png", grid_image)
    metric_rows = [{"split": split, **values} for split, values in results.items()]
    sections = [
        ("Scores", table(metric_rows, ["split", "n", "image_auroc", "pixel_auroc", "aupro", "threshold",
                                       "false_alarms", "missed"])),
        ("Per class (test)", table(per_class, ["class", "n", "min_score", "mean_score", "max_score",
                                               "flagged"])),
        ("Anomaly maps (test)", figure(picture, folder, "lowest- and highest-scored sample of each class; "
                                       "maps on one scale, 0 to twice the threshold")),
    ]  # fmt: skip
    return write_html(folder, sections, f"Anomaly run {out.name}", meta)


def write_markdown(out: Path, results: dict, per_class: list[dict], meta: dict) -> None:
    """report.md, the run's summary (as a classification run has)."""
    lines = [
        f"# Anomaly run {out.name}",
        "",
        f"- dataset: `{meta['dataset']}` (spec_hash {meta['spec_hash']})",
        f"- trained on {meta['train_ok']} OK renders of the train split, **{meta['train_defects']} defect samples**",
        f"- model: unit space per view and pixel ({', '.join(meta['views'])}), options {meta['options']}",
        f"- threshold {meta['threshold']:.3f}: the highest image score of the validation split's OK renders",
        "",
        "| split | n | image AUROC | pixel AUROC | AUPRO | false alarms | missed |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, r in results.items():
        lines.append(
            f"| {split} | {r['n']} | {r['image_auroc']:.4f} | {r['pixel_auroc']:.4f} | {r['aupro']:.4f} "
            f"| {r['false_alarms']} | {r['missed']} |"
        )
    lines += ["", "| class | n | min score | mean score | flagged |", "|---|---|---|---|---|"]
    lines += [
        f"| {c['class']} | {c['n']} | {c['min_score']:.2f} | {c['mean_score']:.2f} | {c['flagged']} |"
        for c in per_class
    ]
    lines += ["", "Anomaly maps: [anomaly/index.html](anomaly/index.html)", "", "![maps](anomaly/maps.png)", ""]
    atomic_write(out / "report.md", "\n".join(lines))
