"""Anomaly scores against ground truth: image AUROC, pixel AUROC and AUPRO (pure numpy; OpenCV for regions).

AUROC is the Mann-Whitney statistic (ties count half), so it equals the area under the ROC curve
exactly. AUPRO (Bergmann et al., MVTec AD): the per-region overlap -- the mean, over every connected
defect region, of the share of its pixels above a threshold -- integrated over the false-positive rate
of defect-free pixels from 0 to `fpr_limit` (0.3) and divided by that limit: 1.0 is perfect, and a
random map (overlap = FPR at every threshold) gives 0.045 / 0.3 = 0.15.
"""

from __future__ import annotations

import cv2
import numpy as np


def auroc(scores, labels) -> float:
    """Probability that a random positive scores above a random negative (ties: one half)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        raise ValueError(f"AUROC needs both classes (got {positives} positive, {negatives} negative)")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    mid_ranks = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based mean rank of each distinct value
    rank_sum = mid_ranks[inverse][labels].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def regions(masks: np.ndarray) -> list[np.ndarray]:
    """Every connected defect region (8-connectivity) as flat indices into masks.ravel()."""
    found = []
    size = masks[0].size if len(masks) else 0
    for i, mask in enumerate(masks):
        if not mask.any():
            continue
        count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        flat = labels.ravel()
        for label in range(1, count):
            found.append(i * size + np.flatnonzero(flat == label))
    return found


def pro_curve(maps: np.ndarray, masks: np.ndarray, fpr_limit: float = 0.3, steps: int = 300):
    """(false-positive rates, per-region overlaps, thresholds): `steps` + 1 points spanning FPR 0..fpr_limit."""
    flat, truth = maps.ravel(), masks.ravel().astype(bool)
    normal = np.sort(flat[~truth])
    parts = [np.sort(flat[r]) for r in regions(masks)]
    if not parts or not len(normal):
        raise ValueError("AUPRO needs defect regions and defect-free pixels")
    targets = np.linspace(0.0, fpr_limit, steps + 1)
    # threshold t reaches FPR f when a share f of the normal pixels lies at or above t
    picks = np.clip(np.ceil((1.0 - targets) * len(normal)).astype(int), 0, len(normal) - 1)
    thresholds = np.concatenate([[np.nextafter(normal[-1], np.inf)], normal[picks[1:]]])

    def share_at_or_above(sorted_values, t):
        return 1.0 - np.searchsorted(sorted_values, t, side="left") / len(sorted_values)

    fpr = share_at_or_above(normal, thresholds)
    pro = np.mean([share_at_or_above(p, thresholds) for p in parts], axis=0)
    return fpr, pro, thresholds


def aupro(maps: np.ndarray, masks: np.ndarray, fpr_limit: float = 0.3) -> float:
    """Area under the PRO curve up to `fpr_limit`, normalised to [0, 1]."""
    fpr, pro, _ = pro_curve(maps, masks, fpr_limit)
    keep = fpr <= fpr_limit
    fpr, pro = np.append(fpr[keep], fpr_limit), np.append(pro[keep], np.interp(fpr_limit, fpr, pro))
    return float(np.trapezoid(pro, fpr) / fpr_limit)


def anomaly_metrics(image_scores, is_defect, maps: np.ndarray, masks: np.ndarray) -> dict:
    """The three numbers of the acceptance list, for one split."""
    return {
        "image_auroc": auroc(image_scores, is_defect),
        "pixel_auroc": auroc(maps, masks),
        "aupro": aupro(maps, masks),
    }
