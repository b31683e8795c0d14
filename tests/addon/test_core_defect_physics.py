"""Pure core: bent, twisted and squashed pins, several defective pins, and OK/NG by tolerance (no bpy)."""

import math
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from blender_addon.contract import schema
from blender_addon.core import camera, deform, mask, sampling, tolerance
from blender_addon.core.defects import PinDefect, defect_pieces, pin_placement


def spec_with(**parts):
    return schema.GenerationSpec.from_dict(parts)


def inside(piece, point, eps=1e-9) -> bool:
    return all(n0 * point[0] + n1 * point[1] + n2 * point[2] <= d + eps for n0, n1, n2, d in piece.planes)


def volume(piece) -> float:
    """Volume of a convex piece from its faces (divergence theorem over fan triangles)."""
    v = np.array(piece.verts, float)
    total = 0.0
    for face in piece.faces:
        for i in range(1, len(face) - 1):
            total += np.dot(v[face[0]], np.cross(v[face[i]], v[face[i + 1]])) / 6.0
    return abs(total)


@pytest.mark.parametrize("shape", ["square", "round"])
@pytest.mark.parametrize("kind", ["straight", "bend", "tip"])
def test_pieces_are_convex_solids_holding_their_own_corners(shape, kind):
    pins = spec_with().pins
    pieces = deform.pin_pieces(
        pins, shape, bend=30.0 if kind == "bend" else 0.0, bend_dir=40.0, tip=0.2 * (kind == "tip")
    )
    assert len(pieces) == {"straight": 1, "bend": deform.BEND_SLICES, "tip": 2}[kind]
    for piece in pieces:
        assert all(inside(piece, v, 1e-7) for v in piece.verts)
        centre = np.mean(piece.corners, axis=0)
        assert inside(piece, centre) and not inside(piece, centre + np.array([0.0, 0.0, 5.0]))


def test_a_bent_pin_follows_its_arc_without_gaps():
    pins, theta, phi, start = spec_with().pins, 40.0, 120.0, -0.6
    pieces = deform.pin_pieces(pins, "square", bend=theta, bend_dir=phi, bend_from=start)
    length, t = pins.height / 2.0 - start, math.radians(theta)
    radius = length / t
    u = np.array([math.cos(math.radians(phi)), math.sin(math.radians(phi)), 0.0])
    tip = deform.bent_tip(pins, theta, phi, start)
    expected = radius * (1 - math.cos(t)) * u + np.array([0.0, 0.0, start + radius * math.sin(t)])
    assert np.allclose(tip, expected)  # the arc keeps the pin's length
    # Points of the ideal bent pin (inside the inscribed tube around the arc) all lie in some piece.
    k = np.cross([0.0, 0.0, 1.0], u)
    for a in np.linspace(0.0, t, 97)[1:-1]:
        axis_point = radius * (1 - math.cos(a)) * u + np.array([0.0, 0.0, start + radius * math.sin(a)])
        outward = math.cos(a) * u - math.sin(a) * np.array([0.0, 0.0, 1.0])
        for direction in (outward, -outward, k, -k):
            p = axis_point + 0.95 * pins.square_width / 2.0 * direction
            assert any(inside(piece, p, 1e-9) for piece in pieces), (a, direction)
    # Nothing below the bend moves: the straight foot ends where the bend starts.
    assert max(v[2] for v in pieces[0].verts) == pytest.approx(start)


def test_a_squashed_tip_keeps_the_pin_volume_and_is_lower_by_the_squash():
    pins = spec_with().pins
    squash = 0.25
    pieces = deform.pin_pieces(pins, "square", tip=squash)
    straight = deform.pin_pieces(pins, "square")
    assert sum(volume(p) for p in pieces) == pytest.approx(volume(straight[0]), rel=1e-9)
    top = max(v[2] for p in pieces for v in p.verts)
    assert top == pytest.approx(pins.height / 2.0 - squash)
    widest = max(abs(v[0]) for v in pieces[1].verts)
    assert widest == pytest.approx(deform.TIP_FLARE * pins.square_width / 2.0)


def test_a_twist_turns_the_pin_about_its_own_axis():
    spec = spec_with()
    plain, turned = pin_placement(spec, 1, 4), pin_placement(spec, 1, 4, twist=30.0)
    base = (0.0, 0.0, -spec.pins.height / 2.0)
    assert np.allclose(turned.point(base), plain.point(base))
    assert np.allclose(turned.point((0.0, 0.0, 1.0)), plain.point((0.0, 0.0, 1.0)))
    corner = turned.point((0.25, 0.25, 1.0))
    rel = np.array(corner) - np.array(plain.point((0.0, 0.0, 1.0)))
    assert math.degrees(math.atan2(rel[1], rel[0])) == pytest.approx(45.0 + 30.0)


def test_every_piece_of_a_deformed_pin_carries_the_pin_and_reaches_the_mask():
    spec = spec_with(render={"width": 192, "height": 64}, camera={"rig": "centre"})
    pose = camera.camera_pose(spec, "centre")
    for defect in (
        PinDefect(1, 4, "bend", "square", bend=30.0, bend_dir=90.0),
        PinDefect(1, 4, "tip", "square", tip=0.3),
    ):
        plan = replace(
            sampling.ok_plan_like(sampling.plan_sample(spec, "train", 0)), pins=(defect,), pin=(1, 4), mode=defect.mode
        )
        solids = mask.defect_solids(spec, defect)
        assert len(solids) == len(defect_pieces(spec, defect)) and {s.value for s in solids} == {
            4 * spec.grid.cols + 1 + 1
        }
        shown = mask.rasterise(pose, mask.scene_solids(spec, plan))
        assert (shown == 14).sum() > 0


def multi_spec(**cls):
    classes = [{"name": "ok", "mode": "ok"}, {"name": "bent", "mode": "bend", "low": 5, "high": 20, **cls}]
    return spec_with(defects={"classes": classes}, dataset={"train": 60})


def test_several_pins_are_distinct_within_the_count_range_and_reproducible():
    spec = multi_spec(count_low=2, count_high=4)
    plans = [sampling.plan_sample(spec, "train", i) for i in range(60)]
    counts = Counter(len(p.pins) for p in plans if p.mode == "bend")
    assert set(counts) == {2, 3, 4}
    for p in plans:
        assert len({d.pin for d in p.pins}) == len(p.pins)
        if p.pins:
            first = p.pins[0]
            assert p.pin == first.pin and p.bend == first.bend and p.qeu_code == first.qeu_code
    assert plans == [sampling.plan_sample(spec, "train", i) for i in range(60)]


def test_count_one_draws_what_a_spec_without_counts_drew_and_keeps_its_hash():
    old, new = multi_spec(), multi_spec(count_low=1, count_high=1, near_tolerance=0.0)
    assert old.fingerprint() == new.fingerprint()
    assert spec_with().fingerprint() == spec_with(tolerance={"enabled": False}).fingerprint()
    assert multi_spec(count_low=1, count_high=2).fingerprint() != old.fingerprint()
    for i in range(60):
        a, b = sampling.plan_sample(old, "train", i), sampling.plan_sample(multi_spec(count_high=3), "train", i)
        assert len(a.pins) == (a.mode != "ok")
        if a.pins:  # the first pin is drawn before the count: the same pin and amounts with more pins
            assert b.pins[0] == a.pins[0]


def test_tolerance_edge_case_either_side_of_the_boundary():
    spec = spec_with(tolerance={"enabled": True, "height": 0.1, "position": 0.05, "tilt": 2.0})
    at = PinDefect(1, 4, "retract", "square", dz=-0.1)
    assert tolerance.pin_margin(spec, at) == pytest.approx(0.0, abs=1e-12)
    for dz, ng in ((-0.1 + 1e-6, False), (-0.1 - 1e-6, True), (0.1 - 1e-6, False), (0.1 + 1e-6, True)):
        (verdict,), sample_ng, margin = tolerance.judge(spec, [replace(at, dz=dz)])
        assert verdict[0] is ng and sample_ng is ng and (margin < 0) is ng
    # A tilt is limited by whichever of its angle and its tip's true position it breaks first.
    tilted = PinDefect(1, 4, "tilt_x", "square")
    edge = tolerance.boundary(spec, tilted)
    by_position = math.degrees(math.asin(0.05 / spec.pins.height))
    assert edge == pytest.approx(min(2.0, by_position), rel=1e-6)
    assert tolerance.pin_margin(spec, replace(tilted, tilt_x=edge * 0.999)) >= 0
    assert tolerance.pin_margin(spec, replace(tilted, tilt_x=edge * 1.001)) < 0
    assert tolerance.judge(spec, [PinDefect(1, 4, "missing", "square")])[1] is True
    assert tolerance.judge(spec, [])[1:] == (False, 1.0)


def test_a_sample_is_ng_when_any_of_its_pins_is_and_plans_record_it():
    tol = {"enabled": True, "bend": 10.0, "position": 1.0, "height": 1.0}
    spec = spec_with(
        tolerance=tol,
        defects={"classes": [{"name": "b", "mode": "bend", "low": 2, "high": 18, "count_low": 3, "count_high": 3}]},
        dataset={"train": 40},
    )
    seen = set()
    for i in range(40):
        p = sampling.plan_sample(spec, "train", i)
        per_pin = [d.bend > 10.0 for d in p.pins]
        assert [ng for ng, _m in p.pin_ok] == per_pin and p.ng == any(per_pin)
        assert p.tolerance_margin == pytest.approx(min(m for _ng, m in p.pin_ok))
        seen.add(p.ng)
    assert seen == {True, False}
    plain = spec_with(defects=spec.defects.to_dict(), dataset={"train": 4})  # no tolerance: every defect is NG
    assert all(p.ng and p.tolerance_margin is None for p in (sampling.plan_sample(plain, "train", i) for i in range(4)))


def test_near_tolerance_draws_around_the_boundary():
    tol = {"enabled": True, "bend": 4.0, "position": 10.0, "height": 10.0}
    classes = [{"name": "b", "mode": "bend", "low": 20, "high": 40, "near_tolerance": 1.0}]
    spec = spec_with(tolerance=tol, defects={"classes": classes}, dataset={"train": 50})
    bends = [sampling.plan_sample(spec, "train", i).bend for i in range(50)]
    assert all(3.6 - 1e-9 <= b <= 4.4 + 1e-9 for b in bends)
    assert any(b < 4.0 for b in bends) and any(b > 4.0 for b in bends)


def test_the_defects_spec_straddles_its_tolerance_in_every_defect_class():
    """specs/defects.json: each defect class holds samples on both sides of the tolerance (OK and NG)."""
    spec = schema.load_spec(Path(__file__).resolve().parents[2] / "specs" / "defects.json")
    verdicts: dict = {}
    for i in range(300):
        plan = sampling.plan_sample(spec, "train", i)
        verdicts.setdefault(plan.label, set()).add(plan.ng)
    assert verdicts.pop("ok") == {False}
    assert verdicts and all(v == {True, False} for v in verdicts.values()), verdicts
