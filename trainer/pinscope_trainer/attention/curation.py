"""What to render next: samples the model gets wrong, or right while looking elsewhere.

Pure Python. Each record is one test sample at one checkpoint with one map method:
label, pin (position name), view, correct (prediction == truth), pointing_box (peak on the defect
box; None for OK samples), mass_defect, area_defect.

- wrong: the prediction is wrong.
- right for the wrong reason: the prediction is right, the sample has a defect, and the map's peak
  is not on the defective pin (the model may rely on a shortcut: lighting, housing, another pin).
  OK samples have no defect to point at, so they can only be right or wrong.
"""

from __future__ import annotations

from .scores import mean_or_none

VERDICTS = ("right", "right_wrong_reason", "wrong")


def verdict(record: dict) -> str:
    if not record.get("correct"):
        return "wrong"
    if record.get("pointing_box") is False:
        return "right_wrong_reason"
    return "right"


def group_key(record: dict) -> tuple:
    return (str(record.get("label")), str(record.get("pin")), str(record.get("view")))


def groups(records: list[dict]) -> list[dict]:
    """One row per class x pin position x view with its counts, shares and a suggestion, neediest first."""
    by_key: dict[tuple, list] = {}
    for record in records:
        by_key.setdefault(group_key(record), []).append(record)
    typical = sorted(len(v) for v in by_key.values())[len(by_key) // 2] if by_key else 0
    rows = []
    for (label, pin, view), members in by_key.items():
        counts = {v: 0 for v in VERDICTS}
        for record in members:
            counts[verdict(record)] += 1
        n = len(members)
        problems = counts["wrong"] + counts["right_wrong_reason"]
        rows.append(
            {
                "label": label,
                "pin": pin,
                "view": view,
                "n": n,
                "wrong": counts["wrong"],
                "right_wrong_reason": counts["right_wrong_reason"],
                "problem_share": problems / n,
                "pointing_box": mean_or_none(r.get("pointing_box") for r in members),
                "mass_defect": mean_or_none(r.get("mass_defect") for r in members),
                "suggestion": suggestion(counts, n, typical, label, pin, view),
            }
        )
    rows.sort(key=lambda r: (-(r["wrong"] + r["right_wrong_reason"]), -r["problem_share"], r["label"], r["pin"]))
    return rows


def suggestion(counts: dict, n: int, typical: int, label: str, pin: str, view: str) -> str:
    where = f"{label} at {pin} seen from {view}" if pin != "none" else f"{label} seen from {view}"
    if counts["wrong"] == 0 and counts["right_wrong_reason"] == 0:
        return "fine"
    if counts["wrong"] >= counts["right_wrong_reason"]:
        more = " (few test samples: the estimate is rough)" if n < typical else ""
        return f"render more {where}{more}"
    return (
        f"render {where} with more lighting/camera jitter and its twins, so the class cannot be told "
        "apart without looking at the pin"
    )


def needing_data(records: list[dict], top: int = 10) -> list[dict]:
    """The `top` groups with at least one problem."""
    return [g for g in groups(records) if g["wrong"] + g["right_wrong_reason"] > 0][:top]


def examples(records: list[dict], kind: str, limit: int = 8) -> list[dict]:
    """Samples of one verdict, the least attentive first (lowest mass on the defective pin)."""
    chosen = [r for r in records if verdict(r) == kind]
    chosen.sort(key=lambda r: (r.get("mass_defect") is None, r.get("mass_defect") or 0.0))
    return chosen[:limit]
