"""The robustness suite's shift sets: valid specs, test-only, and each beyond the training spec's ranges."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pinscope_schema import GenerationSpec

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import robustness  # noqa: E402

BASE = json.loads((REPO / "specs" / "default.json").read_text())
SETS = robustness.shift_specs(BASE, 300, 30)


def _disjoint(a, b) -> bool:
    return a[1] < b[0] or b[1] < a[0]


def test_every_set_is_a_valid_test_only_spec_with_its_own_seed():
    assert set(SETS) == {"in_domain", "everything", *robustness.SHIFTS}
    seeds = set()
    for name, (_what, data) in SETS.items():
        spec = GenerationSpec.from_dict(data)
        assert (spec.dataset.train, spec.dataset.validation, spec.dataset.test) == (0, 0, 300), name
        assert spec.dataset.reference == 30 and spec.seed != BASE["seed"]
        seeds.add(spec.seed)
    assert len(seeds) == len(SETS)  # no two sets share their renders


def test_in_domain_changes_nothing_but_the_seed_and_the_splits():
    data = SETS["in_domain"][1]
    strip = lambda d: {k: v for k, v in d.items() if k not in ("seed", "dataset", "name")}  # noqa: E731
    assert strip(data) == strip(BASE)


@pytest.mark.parametrize(
    "name,field",
    [
        ("brighter", "light_scale"),
        ("dimmer", "light_scale"),
        ("brighter", "exposure"),
        ("dimmer", "exposure"),
        ("housing_colour", "housing_value"),
        ("noise_blur", "shot_noise"),
        ("noise_blur", "read_noise"),
        ("noise_blur", "blur"),
    ],
)
def test_shifted_ranges_lie_beyond_the_training_range(name, field):
    shifted = SETS[name][1]["randomize"][field]
    assert _disjoint(shifted, BASE["randomize"].get(field) or [0.0, 0.0]), (name, field, shifted)


def test_categorical_shifts_draw_what_training_never_saw():
    r = BASE["randomize"]
    assert not set(SETS["plating"][1]["randomize"]["platings"]) & set(r.get("platings", []))
    seen = set(r.get("light_presets") or [BASE.get("lights", {}).get("preset", "seed")])
    assert not set(SETS["lighting"][1]["randomize"]["light_presets"]) & seen
    assert SETS["housing_kind"][1]["housing"]["kind"] != BASE["housing"]["kind"]
    cam, base_cam = SETS["jitter"][1]["camera"], BASE["camera"]
    assert cam["jitter_x"] > base_cam["jitter_x"] and cam["jitter_rot_z"] > base_cam["jitter_rot_z"]


def test_everything_moves_every_factor_at_once():
    everything = SETS["everything"][1]
    for name in set(robustness.SHIFTS) - {"brighter"}:  # brighter and dimmer move the same level apart
        shifted = SETS[name][1]
        for section in ("randomize", "housing", "camera"):
            for key, value in shifted.get(section, {}).items():
                if value != BASE.get(section, {}).get(key):
                    assert everything[section][key] == value, (name, section, key)


def test_a_set_rendered_whole_is_not_rendered_again(tmp_path):
    """complete(): the folder holds every sample of this very spec (same hash); anything else renders."""
    from pinscope_trainer.synthetic import make_dataset

    folder = make_dataset(tmp_path / "set", train=0, validation=0, test=4, reference=3)
    spec = json.loads((folder / "dataset.json").read_text())["spec"]
    assert robustness.complete(folder, spec)
    other = json.loads(json.dumps(spec))
    other["dataset"]["test"] = 5
    assert not robustness.complete(folder, other)  # another spec: its own renders
    assert not robustness.complete(tmp_path / "none", spec)
    rows = (folder / "test" / "metadata.jsonl").read_text().splitlines()
    (folder / "test" / "metadata.jsonl").write_text("\n".join(rows[:-1]) + "\n")
    assert not robustness.complete(folder, spec)  # a sample short: the render resumes it


def test_render_only_needs_somewhere_to_render_to(capsys):
    with pytest.raises(SystemExit) as stop:
        robustness.arguments(["--render-only", "--data", "data/default"])
    assert stop.value.code == 2 and "--render-only needs --out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        robustness.arguments([])  # scoring needs a run


def test_a_multi_line_spec_gives_sets_of_lines_that_the_references_cover():
    base = json.loads(json.dumps(BASE))
    base["dataset"].update(lines=12, reference=108)
    base["randomize"]["per_line"] = ["housing_value", "light_scale"]
    for reference, lines in ((108, 12), (24, 4), (5, 1)):
        for name, (_what, data) in robustness.shift_specs(base, 60, reference).items():
            spec = GenerationSpec.from_dict(data)  # valid: every line's unit space sees every camera
            assert spec.dataset.lines == lines and spec.dataset.reference == reference, name
            assert spec.randomize.per_line == ["housing_value", "light_scale"], name


def test_a_spec_whose_parts_every_camera_sees_makes_sets_of_whole_parts(capsys):
    base = json.loads(json.dumps(BASE))
    base["dataset"].update(every_view=True, validation=156)
    for name, (_what, data) in robustness.shift_specs(base, 48, 30).items():
        assert GenerationSpec.from_dict(data).dataset.every_view, name  # per-part scores on every set
    robustness.check_test_size(base, 48)
    with pytest.raises(SystemExit) as stop:
        robustness.check_test_size(base, 40)
    message = capsys.readouterr().err
    assert stop.value.code == 2 and message.startswith("error: --test: must be a multiple of 12 (twin_share x")


def test_the_table_and_summary_give_per_part_results_where_there_are_parts():
    def metrics(acc, parts=None):
        per_class = {label: {"f1": acc} for label in ("ok", "retract")}
        out = {"accuracy": acc, "n": 300, "per_class": per_class, "line_distance": 0.5}
        return {**out, "parts": {"accuracy": parts, "n": 100}} if parts is not None else out

    rows = [
        ("in_domain", "x", metrics(0.98, 1.0)),
        ("jitter", "y", metrics(0.9, 0.95)),
        ("dimmer", "z", metrics(0.96, 0.99)),
    ]
    text = robustness.table(rows, ["ok", "retract"])
    assert "| per part |" in text and "| 90.0 % | 95.0 % of 100 |" in text
    line = robustness.summary(rows, metrics(0.98, 1.0), 0.97)
    assert line.endswith("per part (every camera's image): own test 100.0 %, worst shift 95.0 % (jitter)")
    plain = [(n, w, {k: v for k, v in m.items() if k != "parts"}) for n, w, m in rows]
    assert "| 90.0 % | – |" in robustness.table(plain, ["ok", "retract"])
    assert "per part" not in robustness.summary(plain, metrics(0.98), 0.97)
