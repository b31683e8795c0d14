"""Pure core: per-sample plans are balanced, deterministic and independent of rendering order."""

from collections import Counter

import pytest

from blender_addon.contract import schema
from blender_addon.core import sampling


def spec_with(**parts):
    return schema.GenerationSpec.from_dict(parts)


def test_classes_are_balanced_in_every_split():
    spec = spec_with(dataset={"train": 103, "validation": 10, "test": 7})
    for split, size in spec.dataset.split_sizes().items():
        counts = Counter(sampling.plan_sample(spec, split, i).label for i in range(size))
        assert sum(counts.values()) == size
        assert max(counts.values()) - min(counts.values()) <= 1, (split, counts)


def test_quotas_set_the_class_shares():
    classes = [{"name": "ok", "mode": "ok", "quota": 3}, {"name": "gone", "mode": "missing", "quota": 1}]
    spec = spec_with(defects={"classes": classes}, dataset={"train": 40})
    counts = Counter(sampling.plan_sample(spec, "train", i).label for i in range(40))
    assert counts == {"ok": 30, "gone": 10}
    assert sampling.allocate([1, 1, 1], 10) == [4, 3, 3]


def test_plans_are_deterministic_and_order_free():
    spec = spec_with(seed=7)
    forward = [sampling.plan_sample(spec, "train", i) for i in range(30)]
    backward = [sampling.plan_sample(spec, "train", i) for i in reversed(range(30))][::-1]
    assert forward == backward
    other_seed = [sampling.plan_sample(spec_with(seed=8), "train", i) for i in range(30)]
    assert forward != other_seed
    assert [p.seed for p in forward] == [schema.derive_seed(7, "train", i) for i in range(30)]


def test_defective_pins_are_uniform_unless_fixed():
    spec = spec_with(dataset={"train": 2000})
    pins = Counter(p.pin for p in (sampling.plan_sample(spec, "train", i) for i in range(2000)) if p.pin)
    assert len(pins) == 27  # every pin gets defects
    assert max(pins.values()) < 3 * min(pins.values())
    fixed = spec_with(defects={"pin": [2, 0]})
    plans = [sampling.plan_sample(fixed, "test", i) for i in range(40)]
    assert {p.pin for p in plans if p.pin} == {(2, 0)}
    assert {p.qeu_code for p in plans if p.mode == "retract"} == {"31D05"}


def test_plan_fields_match_their_class():
    classes = [
        {"name": "ok", "mode": "ok"},
        {"name": "low", "mode": "retract", "low": 0.2, "high": 0.4},
        {"name": "up", "mode": "raise", "low": 0.3, "high": 0.3},
        {"name": "sh", "mode": "shift", "low": 0.1, "high": 0.1},
        {"name": "tx", "mode": "tilt_x", "low": 5, "high": 15, "random_sign": True},
        {"name": "gone", "mode": "missing"},
        {"name": "swap", "mode": "wrong_shape"},
        {"name": "bent", "mode": "bend", "low": 10, "high": 30},
        {"name": "turn", "mode": "twist", "low": 20, "high": 20, "random_sign": True},
        {"name": "crush", "mode": "tip", "low": 0.1, "high": 0.2},
    ]
    spec = spec_with(defects={"classes": classes}, dataset={"train": 200})
    plans = [sampling.plan_sample(spec, "train", i) for i in range(200)]
    signs = set()
    for p in plans:
        if p.mode == "ok":
            assert p.pin is None and p.pin_index == -1 and p.qeu_code == "OK"
        else:
            assert p.pin_index == p.pin[1] * 3 + p.pin[0]
        if p.mode == "retract":
            assert -0.4 <= p.dz <= -0.2 and p.dx == p.dy == 0
        if p.mode == "raise":
            assert p.dz == pytest.approx(0.3)
        if p.mode == "shift":
            assert (p.dx**2 + p.dy**2) ** 0.5 == pytest.approx(0.1) and p.dz == 0
        if p.mode == "tilt_x":
            assert 5 <= abs(p.tilt_x) <= 15 and p.tilt_y == 0
            signs.add(p.tilt_x > 0)
        if p.mode == "wrong_shape":
            assert p.shape != spec.grid.shape_at(*p.pin) and p.shape in ("square", "round")
        if p.mode == "bend":
            assert 10 <= p.bend <= 30 and 0 <= p.bend_dir < 360 and p.tilt_x == p.tilt_y == p.dx == 0
        if p.mode == "twist":
            assert abs(p.twist) == pytest.approx(20) and p.tilt_x == p.tilt_y == p.bend == 0
            signs.add(("twist", p.twist > 0))
        if p.mode == "tip":
            assert 0.1 <= p.tip <= 0.2 and p.dz == 0
        if p.mode in ("ok", "missing", "wrong_shape"):
            assert p.dx == p.dy == p.dz == p.tilt_x == p.tilt_y == p.twist == p.bend == p.tip == 0
        assert p.view in ("left", "centre", "right")
        assert set(p.jitter) >= {"cam_dx", "cam_dy", "cam_roll", "light_a", "light_b"}
        assert abs(p.jitter["cam_dx"]) <= 0.025 and 350 <= p.jitter["light_a"] <= 400
    assert signs == {True, False, ("twist", True), ("twist", False)}


def test_reference_plans_are_ok_and_cover_every_view():
    spec = spec_with()
    refs = [sampling.plan_reference(spec, i) for i in range(6)]
    assert all(r.mode == "ok" and r.pin is None for r in refs)
    assert [r.view for r in refs] == ["left", "centre", "right"] * 2
    assert len({r.jitter["light_a"] for r in refs}) == 6  # lighting noise differs per render


def test_index_outside_the_split_is_refused():
    spec = spec_with(dataset={"train": 3})
    with pytest.raises(IndexError):
        sampling.plan_sample(spec, "train", 3)
    with pytest.raises(ValueError):
        sampling.plan_sample(spec, "training", 0)


def test_twin_groups_share_their_shot_but_not_their_defect():
    spec = spec_with(dataset={"train": 12, "twin_share": 3})
    plans = [sampling.plan_sample(spec, "train", i) for i in range(12)]
    for first in range(0, 12, 3):
        group = plans[first : first + 3]
        assert {sampling.shot_index(spec, p.index) for p in group} == {first}
        assert len({(p.view, tuple(sorted(p.jitter.items())), p.seed) for p in group}) == 1
    assert len({p.seed for p in plans}) == 4
    assert len({(p.label, p.pin, p.dz, p.tilt_x, p.tilt_y) for p in plans}) > 4


def test_twin_groups_hold_each_class_once_so_no_image_repeats():
    # An OK sample of a group is the group's twin: two OKs in one group would be the same image twice.
    spec = spec_with(dataset={"train": 402, "validation": 10, "test": 0, "twin_share": 4})
    plans = [sampling.plan_sample(spec, "train", i) for i in range(402)]
    assert Counter(p.label for p in plans) == {"ok": 101, "retract": 101, "tilt_x": 100, "tilt_y": 100}
    for first in range(0, 402, 4):
        labels = [p.label for p in plans[first : first + 4]]
        assert len(labels) == len(set(labels)), (first, labels)
    # the group order is shuffled: not the same class pattern in every group
    assert len({tuple(p.label for p in plans[f : f + 4]) for f in range(0, 400, 4)}) > 10
    # a class with more samples than there are groups must repeat in some group; the counts still hold
    heavy = [{"name": "ok", "mode": "ok", "quota": 3}, {"name": "gone", "mode": "missing", "quota": 1}]
    spec = spec_with(defects={"classes": heavy}, dataset={"train": 40, "twin_share": 2})
    plans = [sampling.plan_sample(spec, "train", i) for i in range(40)]
    assert Counter(p.label for p in plans) == {"ok": 30, "gone": 10}
    assert all(plans[f].label != plans[f + 1].label or plans[f].label == "ok" for f in range(0, 40, 2))


def test_every_view_shows_each_part_to_every_camera_in_one_shot():
    # twin_share 2 x 3 cameras: blocks of 6 samples, each camera's 2 parts consecutive (one twin group)
    spec = spec_with(dataset={"train": 24, "validation": 0, "test": 0, "twin_share": 2, "every_view": True})
    plans = [sampling.plan_sample(spec, "train", i) for i in range(24)]
    views = spec.camera.views
    parts = {}
    for plan in plans:
        parts.setdefault(plan.part, []).append(plan)
    assert sorted(parts) == list(range(8))
    for images in parts.values():
        assert [p.view for p in images] == views  # every camera once, in the rig's order
        assert len({(p.label, p.pin, p.dz, p.tilt_x, p.tilt_y, p.line) for p in images}) == 1  # one defect
        assert len({tuple(sorted(p.jitter.items())) for p in images}) == 1  # one shot: the part's placement
    for first in range(0, 24, 2):  # a twin group: one camera, one shot, one render seed, two parts
        group = plans[first : first + 2]
        assert {sampling.shot_index(spec, p.index) for p in group} == {first}
        assert len({(p.view, p.seed) for p in group}) == 1 and len({p.part for p in group}) == 2
    assert Counter(p.label for p in plans) == {"ok": 6, "retract": 6, "tilt_x": 6, "tilt_y": 6}
    # without every_view nothing moves: the same spec's plans are those of a spec that never had the field
    plain = spec_with(dataset={"train": 24, "twin_share": 2})
    assert [sampling.plan_sample(plain, "train", i).part for i in range(24)] == [None] * 24
    assert plain.fingerprint() == spec_with(dataset={"train": 24, "twin_share": 2, "every_view": False}).fingerprint()
