"""OK-only anomaly detection: the metrics against brute force, the unit space, and a whole run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pinscope_trainer.anomaly.metrics import aupro, auroc, pro_curve
from pinscope_trainer.anomaly.run import train_anomaly
from pinscope_trainer.anomaly.unit_space import UnitSpace, UnitSpaceOptions
from pinscope_trainer.data import PinDataset
from pinscope_trainer.errors import UsageError


def brute_auroc(scores, labels):
    pos, neg = scores[labels], scores[~labels]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_auroc_equals_the_pairwise_count_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.integers(0, 6, 40).astype(float)  # many ties
        labels = rng.random(40) < 0.4
        assert auroc(scores, labels) == pytest.approx(brute_auroc(scores, labels), abs=1e-12)
    assert auroc([0.1, 0.2, 0.9], [False, False, True]) == 1.0
    with pytest.raises(ValueError, match="both classes"):
        auroc([1, 2], [True, True])


def two_regions():
    masks = np.zeros((3, 8, 8), bool)
    masks[0, 1:3, 1:3] = True
    masks[1, 4:8, 4:8] = True
    return masks


def test_aupro_is_one_for_a_perfect_map_zero_for_an_inverted_one_and_015_for_noise():
    masks = two_regions()
    assert aupro(masks.astype(float), masks) == pytest.approx(1.0)
    assert aupro(-masks.astype(float), masks) == pytest.approx(0.0, abs=1e-3)
    rng = np.random.default_rng(1)
    big = np.zeros((20, 64, 64), bool)
    big[:, 10:30, 10:30] = True
    assert aupro(rng.random(big.shape), big) == pytest.approx(0.15, abs=0.01)


def test_pro_curve_matches_a_direct_count():
    rng = np.random.default_rng(2)
    masks = two_regions()
    maps = rng.random(masks.shape) + masks * 0.3
    fpr, pro, thresholds = pro_curve(maps, masks, steps=50)
    for f, p, t in zip(fpr, pro, thresholds, strict=True):
        assert f == pytest.approx((maps[~masks] >= t).mean())
        overlaps = [(maps[0, 1:3, 1:3] >= t).mean(), (maps[1, 4:8, 4:8] >= t).mean()]
        assert p == pytest.approx(np.mean(overlaps))
    assert fpr[0] == 0.0 and np.all(np.diff(fpr) >= 0) and fpr[-1] == pytest.approx(0.3, abs=0.01)


def ok_renders(n=12, seed=0):
    rng = np.random.default_rng(seed)
    base = np.zeros((24, 32, 3), np.float32) + 40
    base[8:16, 8:24] = 180  # a bright pin
    gains = 0.8 + 0.4 * rng.random(n)
    images = base[None] * gains[:, None, None, None] + rng.normal(0, 4, (n, 24, 32, 3))
    return np.clip(images, 0, 255).astype(np.uint8), base


def pin_row_renders(n=12, seed=0, shift=0):
    """OK renders of a row of five bright pins, each a little brighter or darker and `shift` px off."""
    rng = np.random.default_rng(seed)
    base = np.zeros((24, 64, 3), np.float32) + 40
    for x0 in range(4, 60, 12):
        base[8:16, x0 + shift : x0 + shift + 6] = 180
    gains = 0.8 + 0.4 * rng.random(n)
    images = base[None] * gains[:, None, None, None] + rng.normal(0, 4, (n, 24, 64, 3))
    return np.clip(images, 0, 255).astype(np.uint8), base


@pytest.mark.parametrize("register", [False, True])
def test_unit_space_points_at_the_defect_and_ignores_a_brightness_change(tmp_path, register):
    # registration warps each render onto the OK mean: a part of several pins, so that one damaged pin
    # cannot be explained away by the warp (a lone pin, half of it dark, would be: it could shrink onto
    # the bright half)
    images, base = pin_row_renders() if register else ok_renders()
    opts = UnitSpaceOptions(register=register)
    model = UnitSpace.fit(images, ["centre"] * len(images), opts)
    defect = base.copy()
    defect[8:16, 16:22] = 90  # one pin darkened (in the lone-pin scene: half the pin)
    brighter = np.clip(base * 1.15, 0, 255)
    tests = np.stack([defect, brighter]).astype(np.uint8)
    scores, maps = model.score(tests, ["centre", "centre"])
    y, x = np.unravel_index(maps[0].argmax(), maps[0].shape)
    assert 8 <= y < 16 and 16 <= x < 24
    assert scores[0] > 5 * scores[1]
    model.save(tmp_path / "m.npz")
    again = UnitSpace.load(tmp_path / "m.npz", opts).score(tests, ["centre", "centre"])
    assert np.array_equal(again[0], scores) and np.array_equal(again[1], maps)
    with pytest.raises(KeyError, match="left"):
        model.score(tests[:1], ["left"])


def test_registration_takes_a_camera_shift_out_of_the_unit_space():
    images, _ = pin_row_renders()
    moved, _ = pin_row_renders(n=2, seed=1, shift=2)  # the camera 2 px off: every pin edge moves
    plain = UnitSpace.fit(images, ["centre"] * len(images), UnitSpaceOptions(register=False))
    registered = UnitSpace.fit(images, ["centre"] * len(images), UnitSpaceOptions())
    assert plain.score(moved, ["centre"] * 2)[0].min() > 3 * registered.score(moved, ["centre"] * 2)[0].max()


def test_a_run_learns_from_ok_renders_only_and_scores_the_test_split(synthetic_dataset, tmp_path, cache_dir):
    out = tmp_path / "run"
    summary = train_anomaly(synthetic_dataset, out, cache_dir=cache_dir, quiet=True)
    config = json.loads((out / "run_config.json").read_text())
    rows = [json.loads(line) for line in (synthetic_dataset / "train/metadata.jsonl").read_text().splitlines()]
    ok = [r for r in rows if r["label"] == "ok"]
    assert (config["train_ok"], config["train_defects"]) == (len(ok), 0)
    ds = PinDataset(synthetic_dataset, cache_dir=cache_dir)
    only_ok = UnitSpace.fit(
        np.asarray(ds.renders("train", ds.render_size))[[i for i, r in enumerate(ds.rows("train")) if r.label == "ok"]],
        ["centre"] * len(ok),
        UnitSpaceOptions(),
    )
    saved = UnitSpace.load(out / "anomaly/model.npz", UnitSpaceOptions())
    assert np.array_equal(saved.views["centre"].mean, only_ok.views["centre"].mean)
    test = summary["test"]
    assert test["image_auroc"] >= 0.95 and test["pixel_auroc"] >= 0.9 and 0 < test["aupro"] <= 1
    metrics = json.loads((out / "eval/anomaly_metrics.json").read_text())
    assert metrics["test"]["image_auroc"] == test["image_auroc"]
    lines = (out / "eval/anomaly_scores.csv").read_text().splitlines()
    assert lines[0].startswith("split,index,file_name,label") and len(lines) == 1 + 16 + 16
    assert np.load(out / "eval/anomaly_maps_test.npy").shape == (16, 32, 96)
    page = (out / "anomaly/index.html").read_text()
    assert "data:image/png;base64," in page and "image_auroc" in page
    assert "**0 defect samples**" in (out / "report.md").read_text()
    with pytest.raises(UsageError, match="already holds a run"):
        train_anomaly(synthetic_dataset, out, cache_dir=cache_dir, quiet=True)
    again = train_anomaly(synthetic_dataset, out, cache_dir=cache_dir, quiet=True, resume=True)
    assert again["test"] == metrics["test"]


def test_a_lines_own_references_are_a_unit_space_without_any_training(synthetic_dataset):
    from pinscope_trainer.anomaly.run import own_line_scores

    scores = own_line_scores(synthetic_dataset)  # the 4 reference renders only: no train split is read
    assert scores["image_auroc"] >= 0.9 and scores["pixel_auroc"] >= 0.9 and 0 < scores["aupro"] <= 1


def test_anomaly_run_refuses_another_image_size(synthetic_dataset, tmp_path, cache_dir):
    with pytest.raises(UsageError, match="render size"):
        train_anomaly(synthetic_dataset, tmp_path / "run", cache_dir=cache_dir, image_size=[16, 48], quiet=True)
    assert not (tmp_path / "run").exists()


def test_train_task_anomaly_on_the_command_line(synthetic_dataset, tmp_path, cache_dir, capsys):
    from pinscope_trainer.cli import main

    args = ["train", "--task", "anomaly", "--data", str(synthetic_dataset), "--cache-dir", str(cache_dir), "--quiet"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    assert "anomaly test: image AUROC" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "bad"), "--image-size", "16x48"]) == 2
    assert capsys.readouterr().err.startswith("error: --image-size: --task anomaly scores pixels at the render size")
    assert main(["train", "--task", "detect", "--data", "x", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --task: must be one of classify, anomaly, got 'detect'") and err.count("\n") == 1
    assert not (tmp_path / "bad").exists() and not (tmp_path / "o").exists()
