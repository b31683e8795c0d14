"""`--label pins`: multi-label over pins -- which pins of an image are NG -- and its metrics (pure numpy,
torch only for the loss).

The target of an image is one bit per pin (pin-index order, names as `data.pin_name`): set for each pin
the row lists as NG in `defects` (its tolerance verdict; every defective pin when the spec gave no
tolerance), or for the row's one `pin` in rows written before per-pin records. The model has one logit
per pin, trained with binary cross-entropy; a pin is predicted NG when its logit is above 0 (p > 0.5).

Metrics: per pin precision, recall, F1 and support (images where the pin is NG); micro averages over
every (image, pin); `accuracy` is the share of images whose whole pin set is right, and `confusion` the
image-level OK/NG matrix (an image is NG when any of its pins is), so reports read like single-label ones.
"""

from __future__ import annotations

import numpy as np

from .metrics import per_class_table

PINS = "pins"


def is_multilabel(label_field: str) -> bool:
    return label_field == PINS


def ng_pins(row) -> list:
    """[col, row] of each NG pin of a dataset row."""
    if row.defects:
        return [list(d.pin) for d in row.defects if d.ng]
    return [] if row.pin is None else [list(row.pin)]


def pin_targets(rows, cols: int, count: int) -> np.ndarray:
    """(N, pins) float32: 1 where a pin of the image is NG."""
    out = np.zeros((len(rows), count), np.float32)
    for i, row in enumerate(rows):
        for col, r in ng_pins(row):
            out[i, r * cols + col] = 1.0
    return out


def _ratio(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def pin_report(y_true, y_pred, labels: list[str]) -> dict:
    """Per-pin and micro precision/recall/F1, exact-match accuracy and the image-level OK/NG confusion."""
    t, p = np.asarray(y_true) > 0.5, np.asarray(y_pred) > 0.5
    tp, fp, fn = (t & p).sum(0), (~t & p).sum(0), (t & ~p).sum(0)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    support = t.sum(0)
    micro_p, micro_r = float(_ratio(tp.sum(), tp.sum() + fp.sum())), float(_ratio(tp.sum(), tp.sum() + fn.sum()))
    image_t, image_p = t.any(1), p.any(1)
    confusion = [
        [int((~image_t & ~image_p).sum()), int((~image_t & image_p).sum())],
        [int((image_t & ~image_p).sum()), int((image_t & image_p).sum())],
    ]
    return {
        "accuracy": float((t == p).all(1).mean()) if len(t) else 0.0,
        "macro_f1": float(f1[support > 0].mean()) if (support > 0).any() else 0.0,
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": float(_ratio(2 * micro_p * micro_r, micro_p + micro_r)),
        "n": int(len(t)),
        "per_class": per_class_table(labels, precision, recall, f1, support),
        "confusion": confusion,
        "labels": ["ok", "ng"],
    }


def correct(logits, y) -> int:
    """Images predicted right: the argmax class, or (multi-label, y 2-D) every pin's bit."""
    if y.dim() == 2:
        return int(((logits > 0) == (y > 0.5)).all(1).sum().item())
    return int((logits.argmax(1) == y).sum().item())


def loss(logits, y) -> float:
    """Mean cross-entropy of a split: binary over pins for multi-label targets, over classes otherwise."""
    import torch

    if y.dim() == 2:
        return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y.float()).item()
    return torch.nn.functional.cross_entropy(logits, y).item()


def pin_mistakes(split: str, rows: list, y, probs, labels: list[str]) -> list[dict]:
    """Every image whose predicted NG-pin set differs from the truth (mistakes.csv's fields)."""
    predicted = probs > 0.5
    truth = np.asarray(y) > 0.5
    out = []
    for i in np.nonzero((predicted != truth).any(1))[0]:
        names = lambda bits: "+".join(labels[j] for j in np.nonzero(bits)[0]) or "ok"  # noqa: E731
        out.append(
            {
                "split": split,
                "index": rows[i].index,
                "file_name": f"{split}/{rows[i].file_name}",
                "true": names(truth[i]),
                "predicted": names(predicted[i]),
                "confidence": round(float(np.abs(probs[i] - 0.5).min() + 0.5), 4),  # the least sure pin
                "pin": "" if rows[i].pin is None else "{},{}".format(*rows[i].pin),
                "view": rows[i].view,
                "qeu_code": rows[i].qeu_code,
            }
        )
    return out
