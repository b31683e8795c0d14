"""Classification metrics computed locally (no `evaluate.load`, no hub): pure numpy."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Rows = true class, columns = predicted class."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def per_class_table(labels, precision, recall, f1, support) -> dict:
    """{label: {precision, recall, f1, support}} from per-label arrays (the one shape every report uses)."""
    return {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(labels)
    }


def classification_report(y_true, y_pred, labels: list[str]) -> dict:
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    actual = cm.sum(axis=1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = actual > 0
    per_class = per_class_table(labels, precision, recall, f1, actual)
    return {
        "accuracy": float(tp.sum() / max(1, cm.sum())),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "n": int(cm.sum()),
        "per_class": per_class,
        "confusion": cm.tolist(),
        "labels": list(labels),
    }
