"""One decision per part from every camera's image of it (datasets rendered with dataset.every_view).

Why: an inspection station judges a part, not an image, and it has several cameras because one view
does not show every defect. A retracted pin seen from straight above moves only its top's size by a
fraction of a pixel; from the side its whole flank goes. The model still reads each image alone (one
camera's image is what it was trained on); the part's class is the one with the highest sum of the
cameras' log-probabilities -- the product of their probabilities, each camera's image taken as
independent evidence about the same part -- so a camera that cannot tell (probabilities near uniform)
gives way to one that can, where a vote would count its guess as much.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .metrics import classification_report


class PartsDisagree(ValueError):
    """Rows that name one part carry different labels: the dataset's parts are not what they claim."""


def part_groups(rows: list) -> dict[int, list[int]] | None:
    """{part: positions of its rows} when every row names its part (dataset.every_view), else None."""
    if not rows or any(getattr(r, "part", None) is None for r in rows):
        return None
    groups: dict[int, list[int]] = {}
    for position, row in enumerate(rows):
        groups.setdefault(row.part, []).append(position)
    return groups


def fused(log_probs: np.ndarray, groups: dict[int, list[int]]) -> tuple[list[int], np.ndarray]:
    """(parts in order, each part's class): the argmax of its images' summed log-probabilities."""
    parts = sorted(groups)
    sums = np.stack([log_probs[groups[p]].sum(axis=0) for p in parts])
    return parts, sums.argmax(axis=1)


def part_report(rows: list, y_true: np.ndarray, log_probs: np.ndarray, labels: list[str]) -> dict | None:
    """classification_report over parts (fused decisions), with the cameras per part; None when the rows
    do not come in parts. A part's images share their label (they show one defect), which is checked."""
    groups = part_groups(rows)
    if groups is None:
        return None
    parts, predicted = fused(log_probs, groups)
    truth = []
    for p in parts:
        classes = {int(y_true[i]) for i in groups[p]}
        if len(classes) != 1:
            raise PartsDisagree(f"part {p}: its images carry different labels {sorted(classes)} (one part, one defect)")
        truth.append(classes.pop())
    report = classification_report(np.array(truth), predicted, labels)
    report["cameras"] = max(len(v) for v in groups.values())
    report["wrong_parts"] = [int(p) for p, t, q in zip(parts, truth, predicted, strict=True) if t != q]
    return report


# --- predict: parts of new images ----------------------------------------------------------------------
PART_SOURCES = ("auto", "folder", "none")


def part_keys(files: list, rows: list, source: str) -> list[str | None]:
    """The part each image shows (None: it is judged alone). auto: a dataset image's row names its part
    (dataset.every_view); folder: the images of one folder are one part (a station saving one folder a
    part, one image a camera); none: no parts."""
    if source == "none":
        return [None] * len(files)
    if source == "folder":
        return [str(Path(f).resolve().parent) for f in files]
    return [
        None if getattr(row, "part", None) is None else f"{Path(f).resolve().parents[1]}#{row.part}"
        for f, row in zip(files, rows, strict=True)
    ]


def fused_records(records: list[dict], keys: list, labels: list[str]) -> list[dict]:
    """One record per part of the predicted images (predict's records carry every class's log-probability):
    its class and confidence from the summed log-probabilities, its cameras, and whether it is right
    where its images' rows give one true class."""
    groups: dict[str, list[dict]] = {}
    for record, key in zip(records, keys, strict=True):
        if key is not None and not record["error"] and record.get("log_probs"):
            groups.setdefault(key, []).append(record)
    out = []
    for key, members in groups.items():
        total = np.sum([m["log_probs"] for m in members], axis=0)
        probs = np.exp(total - total.max())
        probs /= probs.sum()
        best, truths = int(probs.argmax()), {m["true"] for m in members}
        truth = truths.pop() if len(truths) == 1 else ""
        name = labels[best]
        out.append(
            {
                "part": key,
                "images": len(members),
                "views": " ".join(m["view"] or "?" for m in members),
                "class": name,
                "confidence": round(float(probs[best]), 4),
                "true": truth,
                "correct": (name == truth) if truth else None,
            }
        )
    return out
