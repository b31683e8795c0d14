"""Line scale (features/line_scale.py): the difference in units of the line's own OK residual."""

import json

import numpy as np
import pytest
from pinscope_trainer.features.line_scale import (
    FAR_LINE,
    applies,
    far_line_warning,
    line_distance,
    line_factor,
    residual_level,
    scaled_difference,
)


def references(noise: float, n: int = 8, seed: int = 0) -> np.ndarray:
    """n renders of one grey scene with three bright pins, each with its own pixel noise (std in levels)."""
    rng = np.random.default_rng(seed)
    scene = np.full((24, 48, 3), 40.0)
    for x in (8, 22, 36):
        scene[8:16, x : x + 4] = 200.0
    return np.clip(scene + rng.normal(0.0, noise, (n, *scene.shape)), 0, 255).round().astype(np.uint8)


def test_the_residual_level_is_the_spread_of_one_reference_against_the_others():
    n = 8
    level = residual_level(references(6.0, n), ["left"] * n, "none")
    # one render minus the mean of the other n - 1: std noise * sqrt(1 + 1 / (n - 1)), in [0, 1] units
    assert level == pytest.approx(6.0 / 255 * np.sqrt(1 + 1 / (n - 1)), rel=0.05)
    assert residual_level(references(12.0, n), ["left"] * n, "none") == pytest.approx(2 * level, rel=0.05)


def test_the_level_is_the_same_bit_for_bit_and_needs_two_renders_a_camera():
    images = references(6.0, 6)
    views = ["left", "left", "left", "right", "right", "right"]
    assert residual_level(images, views, "register") == residual_level(images.copy(), list(views), "register")
    assert residual_level(images[:4], ["left", "left", "left", "right"], "none") is None


def test_the_factor_and_where_it_applies():
    assert line_factor(0.02, 0.04) == 0.5
    assert line_factor(None, 0.04) == 1.0 and line_factor(0.02, None) == 1.0
    assert applies("diff", "unit", "residual") and applies("rgb-diff", "nearest", "residual")
    assert not applies("diff", "twin", "residual")  # the twin is the shot itself: no line to scale for
    assert not applies("soart3", "unit", "residual") and not applies("rgb", "unit", "residual")
    assert not applies("diff", "unit", "none")
    x = np.ones((2, 6, 4, 4), dtype=np.float32)
    scaled_difference(x, "rgb-diff", 0.5)
    assert (x[:, :3] == 1).all() and (x[:, 3:] == 0.5).all()  # the render as it is, its difference scaled
    y = np.ones((2, 3, 4, 4), dtype=np.float32)
    assert (scaled_difference(y, "diff", 2.0) == 2).all()


def test_the_distance_of_a_line_is_what_the_gain_match_cannot_take_out():
    scene = references(0.0, 1)[0].astype(np.float32) / 255.0
    trained = {"left": scene}
    assert line_distance(trained, {"left": scene}, 0.02) == 0.0
    brighter = {"left": np.clip(scene * 1.3, 0, 1)}  # a brighter line: matched away
    assert line_distance(trained, brighter, 0.02) < 0.1
    other = scene.copy()
    other[18:22, :] = 0.8  # something the training line never showed: a bright bar on the housing
    far = line_distance(trained, {"left": other}, 0.02)
    assert far > FAR_LINE
    assert line_distance(trained, {"right": other}, 0.02) is None  # no camera in common
    assert far_line_warning("--data", far).startswith(f"warning: --data: this line's OK parts lie {far:.1f} OK")
    assert far_line_warning("--data", FAR_LINE) is None and far_line_warning("--data", None) is None


def train_args(data, run, cache) -> list:
    args = ["train", "--data", str(data), "--out", str(run), "--cache-dir", str(cache), "--preset", "micro"]
    args += ["--patch", "8", "--epochs", "1", "--batch-size", "16", "--threads", "1", "--quiet", "--fp32"]
    return args + ["--input", "diff", "--reference", "unit", "--align", "register"]


def test_another_line_is_scaled_by_the_levels_and_predict_scales_as_evaluate(tmp_path):
    """Train on one line, score a line twice as noisy: evaluate --data and predict --reference both
    multiply its differences by training level / line level; the own line keeps a factor of exactly 1."""
    import csv

    import torch
    from pinscope_trainer.checkpoints import load_checkpoint
    from pinscope_trainer.cli import main
    from pinscope_trainer.data import PinDataset, Preprocess, load_split
    from pinscope_trainer.inference import TorchPredictor
    from pinscope_trainer.synthetic import make_dataset

    data = make_dataset(tmp_path / "line_a", train=16, validation=8, test=4, reference=6)
    other = make_dataset(tmp_path / "line_b", train=0, validation=0, test=8, reference=6, seed=5, noise=12.0)
    run, cache = tmp_path / "run", tmp_path / "cache"
    assert main(train_args(data, run, cache)) == 0
    best = run / "checkpoints" / "best"
    info = json.loads((best / "preprocess.json").read_text())
    pre = Preprocess.from_info(info)
    assert info["residual_level"] == PinDataset(data).residual_level(pre)
    assert json.loads((run / "eval" / "metrics.json").read_text())["line_factor"] == 1.0
    expected = info["residual_level"] / PinDataset(other).residual_level(pre)
    assert 0.3 < expected < 0.8  # twice the noise: about half the factor

    assert main(["evaluate", "--run", str(run), "--data", str(other), "--name", "line_b"]) == 0
    assert json.loads((run / "eval" / "line_b" / "metrics.json").read_text())["line_factor"] == round(expected, 4)
    split = load_split(other, "test", info, cache_dir=cache)
    unscaled = PinDataset(other).inputs("test", pre, normalised=False)
    raw = split.inputs.numpy() * np.asarray(pre.std, np.float32)[None, :, None, None]
    shift = np.asarray(pre.mean, np.float32)[None, :, None, None]
    np.testing.assert_allclose(raw + shift, unscaled, atol=1e-5)  # inputs() itself applies the factor

    out = tmp_path / "pred"
    args = ["predict", "--checkpoint", str(best), str(other / "test"), "--reference", str(other), "--out", str(out)]
    assert main(args + ["--threads", "1"]) == 0
    predicted = json.loads((out / "predict.json").read_text())
    assert predicted["line_factor"] == round(expected, 4)
    distance = json.loads((run / "eval" / "line_b" / "metrics.json").read_text())["line_distance"]
    assert 0 < distance < FAR_LINE  # the same scene, only noisier: not far
    assert predicted["line_distance"] == pytest.approx(distance, abs=0.01)  # predict measures as evaluate
    logits, _ = TorchPredictor(load_checkpoint(best)[0])(split.inputs)
    confidence = torch.from_numpy(logits).softmax(dim=1).max(dim=1).values.numpy()
    with open(out / "predictions.csv", newline="") as f:
        by_file = {r["file"].split("/test/")[1]: float(r["confidence"]) for r in csv.DictReader(f)}
    for row, value in zip(split.rows, confidence, strict=True):
        assert abs(by_file[row.file_name] - value) < 1e-3


def test_a_run_without_line_scale_compares_as_it_is(tmp_path):
    from pinscope_trainer.cli import main
    from pinscope_trainer.synthetic import make_dataset

    data = make_dataset(tmp_path / "line_a", train=16, validation=8, test=4, reference=6)
    other = make_dataset(tmp_path / "line_b", train=0, validation=0, test=4, reference=6, seed=5, noise=12.0)
    run = tmp_path / "run"
    assert main(train_args(data, run, tmp_path / "cache") + ["--line-scale", "none", "--no-eval"]) == 0
    assert json.loads((run / "checkpoints" / "best" / "preprocess.json").read_text())["residual_level"] is None
    assert main(["evaluate", "--run", str(run), "--data", str(other), "--name", "line_b"]) == 0
    assert json.loads((run / "eval" / "line_b" / "metrics.json").read_text())["line_factor"] == 1.0


def test_a_line_with_one_reference_image_is_not_scaled_and_says_so(tmp_path, capsys):
    import shutil

    from pinscope_trainer.cli import main
    from pinscope_trainer.synthetic import make_dataset

    data = make_dataset(tmp_path / "line_a", train=16, validation=8, test=4, reference=6)
    run = tmp_path / "run"
    assert main(train_args(data, run, tmp_path / "cache") + ["--no-eval"]) == 0
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(data / "reference" / "images" / "000000.png", one / "golden.png")
    out = tmp_path / "pred"
    capsys.readouterr()
    args = ["predict", "--checkpoint", str(run / "checkpoints" / "best"), str(data / "test"), "--reference", str(one)]
    assert main(args + ["--out", str(out), "--threads", "1", "--quiet"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: --reference")]
    assert len(warnings) == 1 and "not line-scaled" in warnings[0]
    assert json.loads((out / "predict.json").read_text())["line_factor"] == 1.0
