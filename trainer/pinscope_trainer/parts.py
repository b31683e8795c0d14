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

import numpy as np

from .metrics import classification_report


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
            raise ValueError(f"part {p}: its images carry different labels {sorted(classes)}")
        truth.append(classes.pop())
    report = classification_report(np.array(truth), predicted, labels)
    report["cameras"] = max(len(v) for v in groups.values())
    report["wrong_parts"] = [int(p) for p, t, q in zip(parts, truth, predicted, strict=True) if t != q]
    return report
