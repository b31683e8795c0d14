"""Curation hints and the fixed sample set: pure Python on hand-made records and rows."""

from __future__ import annotations

from types import SimpleNamespace

from pinscope_trainer.attention import curation
from pinscope_trainer.attention.runner import pick_samples


def record(label="retract", pin="c1r1", view="left", correct=True, pointing=True, mass=0.3):
    return {
        "label": label,
        "pin": pin,
        "view": view,
        "correct": correct,
        "pointing_box": None if label == "ok" else pointing,
        "mass_defect": None if label == "ok" else mass,
    }


def test_verdicts():
    assert curation.verdict(record()) == "right"
    assert curation.verdict(record(pointing=False)) == "right_wrong_reason"
    assert curation.verdict(record(correct=False)) == "wrong"
    assert curation.verdict(record(label="ok", pin="none")) == "right"  # nothing to point at


def test_groups_rank_the_neediest_first_and_suggest_what_to_render():
    records = (
        [record(pin="c2r5", correct=False, pointing=False, mass=0.0)] * 3  # 3 wrong
        + [record(pin="c1r1", pointing=False, mass=0.01)] * 2
        + [record(pin="c1r1")]  # 2 right, wrong reason
        + [record(label="tilt_x", pin="c3r9", view="right")] * 4  # fine
    )
    table = curation.groups(records)
    assert [(g["pin"], g["wrong"], g["right_wrong_reason"], g["n"]) for g in table] == [
        ("c2r5", 3, 0, 3),
        ("c1r1", 0, 2, 3),
        ("c3r9", 0, 0, 4),
    ]
    assert table[0]["suggestion"].startswith("render more retract at c2r5 seen from left")
    assert "jitter" in table[1]["suggestion"] and table[2]["suggestion"] == "fine"
    assert table[1]["problem_share"] == 2 / 3 and table[1]["pointing_box"] == 1 / 3
    assert [g["pin"] for g in curation.needing_data(records)] == ["c2r5", "c1r1"]
    worst = curation.examples(records, "right_wrong_reason", 1)
    assert worst[0]["mass_defect"] == 0.01


def test_fixed_sample_set_covers_every_class_and_view_and_is_reproducible():
    rows = [
        SimpleNamespace(label=label, view=view)
        for label in ("ok", "retract", "tilt_x")
        for view in ("left", "centre", "right")
        for _ in range(5)
    ]
    picked = pick_samples(rows, 9, seed=7)
    assert len(set(picked)) == 9
    assert {(rows[i].label, rows[i].view) for i in picked} == {(r.label, r.view) for r in rows}
    assert picked == pick_samples(rows, 9, seed=7)
    assert picked != pick_samples(rows, 9, seed=8)
    assert sorted(pick_samples(rows, 100, seed=7)) == list(range(len(rows)))
