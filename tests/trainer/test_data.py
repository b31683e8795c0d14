"""Data path: label fields, input modes (shape and range), the decode cache, train-only normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from pinscope_trainer import cache as cache_mod
from pinscope_trainer.data import PinDataset, Preprocess, load_split
from pinscope_trainer.errors import UsageError


def preprocess(ds, mode, reference="unit", **kw):
    return Preprocess(labels=ds.vocabulary("label"), input_mode=mode, reference=reference, image_size=(32, 96), **kw)


@pytest.mark.parametrize(
    "mode,reference,channels,low,high",
    [
        ("rgb", "unit", 3, 0.0, 1.0),
        ("diff", "twin", 3, -1.0, 1.0),
        ("diff", "unit", 3, -1.0, 1.0),
        ("rgb-diff", "unit", 6, -1.0, 1.0),
        ("soart3", "twin", 3, -14.0, 14.0),
        ("soart3", "unit", 3, -14.0, 14.0),
    ],
)
def test_input_modes_shape_and_range(synthetic_dataset, cache_dir, mode, reference, channels, low, high):
    ds = PinDataset(synthetic_dataset, cache_dir=cache_dir)
    x = ds.inputs("train", preprocess(ds, mode, reference), normalised=False)
    assert x.shape == (48, channels, 32, 96) and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= low and x.max() <= high
    assert x.std() > 0.01


def test_rgb_diff_stacks_the_render_and_its_difference(synthetic_dataset, cache_dir):
    ds = PinDataset(synthetic_dataset, cache_dir=cache_dir)
    both = ds.inputs("train", preprocess(ds, "rgb-diff", "unit"), normalised=False)
    rgb = ds.inputs("train", preprocess(ds, "rgb"), normalised=False)
    diff = ds.inputs("train", preprocess(ds, "diff", "unit"), normalised=False)
    np.testing.assert_array_equal(both[:, :3], rgb)
    np.testing.assert_array_equal(both[:, 3:], diff)


def test_twin_diff_is_zero_outside_the_defect(synthetic_dataset, cache_dir):
    """The twin shares lighting and noise-free geometry, so diff concentrates on the defective pin."""
    ds = PinDataset(synthetic_dataset, cache_dir=cache_dir)
    x = ds.inputs("train", preprocess(ds, "diff", "twin"), normalised=False)
    row_index = next(i for i, r in enumerate(ds.rows("train")) if r.label == "retract")
    row = ds.rows("train")[row_index]
    x0, y0, x1, y1 = row.defect_box
    energy = np.abs(x[row_index]).sum(axis=0)
    inside = energy[y0:y1, x0:x1].mean()
    outside = np.delete(energy.ravel(), [yy * 96 + xx for yy in range(y0, y1) for xx in range(x0, x1)]).mean()
    assert inside > 5 * outside


def test_soart3_per_channel_has_nine_channels(synthetic_dataset, cache_dir):
    from pinscope_trainer.features.soart3 import Soart3Options

    ds = PinDataset(synthetic_dataset, cache_dir=cache_dir)
    pre = preprocess(ds, "soart3", "twin", soart3=Soart3Options(region=4, channels="per"))
    assert ds.inputs("validation", pre, normalised=False).shape == (16, 9, 32, 96)


def test_label_fields(synthetic_dataset, cache_dir):
    ds = PinDataset(synthetic_dataset, cache_dir=cache_dir)
    rows = ds.rows("train")
    assert ds.vocabulary("label") == ["ok", "retract", "tilt_x", "tilt_y"]
    pins = ds.vocabulary("pin")
    assert len(pins) == 28 and pins[0] == "ok" and "pin31" in pins  # column 3, row 1 (1-based)
    for field in ("label", "pin", "qeu_code", "okng"):
        pre = Preprocess(label_field=field, labels=ds.vocabulary(field), image_size=(32, 96))
        ids = ds.label_ids("train", pre)
        names = [pre.labels[i] for i in ids]
        for row, name in zip(rows, names, strict=True):
            if field == "okng":
                assert name == ("ok" if row.label == "ok" else "ng")
            elif field == "pin":
                assert name == ("ok" if row.pin is None else f"pin{row.pin[0] + 1}{row.pin[1] + 1}")
            else:
                assert name == getattr(row, field)
    with pytest.raises(UsageError, match="--label"):
        ds.vocabulary("colour")


def test_cache_decodes_once_and_keys_on_size(synthetic_dataset, cache_dir, monkeypatch):
    ds = PinDataset(synthetic_dataset, cache_dir=cache_dir)
    first = np.array(ds.renders("train", (32, 96)))

    def refuse(*_a, **_k):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(cache_mod, "decode", refuse)
    again = ds.renders("train", (32, 96))
    assert isinstance(again, np.memmap) and np.array_equal(first, again)
    with pytest.raises(AssertionError, match="decoded again"):
        ds.renders("train", (16, 48))  # another preprocessing size is another cache entry


def test_load_split_for_the_attention_tools(synthetic_dataset, cache_dir):
    ds = PinDataset(synthetic_dataset, cache_dir=cache_dir)
    unfitted = preprocess(ds, "diff", "unit")
    pre = unfitted.fitted(ds.inputs("train", unfitted, normalised=False))
    data = load_split(synthetic_dataset, "test", pre.to_info(), cache_dir=cache_dir)
    assert tuple(data.inputs.shape) == (16, 3, 32, 96) and data.labels.shape == (16,)
    assert data.raw_images.shape == (16, 32, 96, 3) and data.raw_images.dtype == np.uint8
    assert data.rows[0].mask_file and (data.split_dir / data.rows[0].mask_file).is_file()
    # normalised with the *train* statistics: the test split's own mean is not forced to zero
    train = ds.inputs("train", pre)
    assert abs(float(train.mean())) < 1e-3
    raw_test = ds.inputs("test", pre, normalised=False)
    expected = (raw_test - np.array(pre.mean, dtype=np.float32)[None, :, None, None]) / np.array(
        pre.std, dtype=np.float32
    )[None, :, None, None]
    np.testing.assert_allclose(data.inputs.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_gain_alignment_takes_a_brighter_warmer_line_out_of_the_difference():
    from pinscope_trainer.features.inputs import compute_inputs, matched_reference

    rng = np.random.default_rng(0)
    reference = rng.uniform(0.1, 0.6, (16, 24, 3)).astype(np.float32)
    # the line is brighter and warmer than its unit space (per-channel gain and offset), plus one defect
    line = reference * np.array([1.3, 1.1, 0.9]) + np.array([0.05, 0.02, 0.0])
    defect = line.copy()
    defect[6:9, 10:13] = 0.95
    images = (np.clip(np.stack([line, defect]), 0, 1) * 255).round().astype(np.uint8)
    plain = compute_inputs(images, reference, "diff")
    aligned = compute_inputs(images, reference, "diff", align="gain")
    assert np.abs(plain[0]).mean() > 0.05  # without alignment the lighting fills the difference
    assert np.abs(aligned[0]).mean() < 0.005  # with it only 8-bit rounding is left
    inside, away = np.abs(aligned[1][:, 6:9, 10:13]).mean(), np.abs(aligned[1][:, :4, :]).mean()
    assert inside > 20 * away  # the defect stands out of what is left
    matched = matched_reference(images[:1].astype(np.float32) / 255, reference[None])
    assert matched.shape == (1, 16, 24, 3)


def test_preprocess_carries_the_alignment_through_its_info():
    pre = Preprocess(labels=("ok", "bad"), input_mode="diff", align="gain", image_size=(8, 8))
    assert Preprocess.from_info(pre.to_info()).align == "gain"
    older = {k: v for k, v in pre.to_info().items() if k != "align"}  # a checkpoint from before the option
    assert Preprocess.from_info(older).align == "none"


def _pin_scene(h=48, w=144, shift=(0.0, 0.0), angle=0.0, scale=1.0, gain=1.0, missing=None) -> np.ndarray:
    """A row of bright soft-edged pins on a dark ground, seen by a camera moved by (dx, dy) px, roll, zoom
    (drawn analytically, so a sub-pixel move is one); `missing`: the part's pin centred there is gone."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy, rad = w / 2, h / 2, np.radians(angle)
    u = ((xs - cx) * np.cos(rad) + (ys - cy) * np.sin(rad)) / scale + cx - shift[0]
    v = (-(xs - cx) * np.sin(rad) + (ys - cy) * np.cos(rad)) / scale + cy - shift[1]
    soft = lambda d: 1.0 / (1.0 + np.exp(-1.5 * d))  # noqa: E731 -- an edge about 2 px wide
    pins = soft(4 - np.abs((u % 16) - 8)) * soft(10 - np.abs(v - cy))
    if missing is not None:
        pins = pins * (np.abs(u - missing) > 8)
    image = 0.1 + 0.6 * pins
    return np.clip(gain * np.repeat(image[..., None], 3, axis=2), 0, 1)


def test_registration_takes_the_camera_jitter_out_of_the_difference():
    from pinscope_trainer.features.inputs import compute_inputs, view_means

    reference = _pin_scene()
    moved = _pin_scene(shift=(1.6, -0.8), angle=0.8, scale=1.02, gain=1.15)
    defect = moved.copy()
    defect[14:34, 60:76] = 0.1  # one pin gone
    images = (np.stack([moved, defect]) * 255).round().astype(np.uint8)
    gain = compute_inputs(images, reference, "diff", align="gain")
    register = compute_inputs(images, reference, "diff", align="register")
    border = (slice(None), slice(6, -6), slice(6, -6))  # the warp replicates the edge: judge the inside
    assert np.abs(gain[0][border]).mean() > 10 * np.abs(register[0][border]).mean()
    inside = np.abs(register[1][:, 14:34, 60:76]).mean()
    assert inside > 50 * np.abs(register[1][:, 6:12, 6:50]).mean()  # the missing pin stands out
    # the unit space of jittered references is sharper registered than plain
    jittered = np.stack([_pin_scene(shift=(dx, dy)) for dx, dy in [(-1.5, 0.5), (1.5, -0.5), (0.0, 1.0)]])
    u8 = (jittered * 255).round().astype(np.uint8)
    plain, sharp = view_means(u8, ["a"] * 3)["a"], view_means(u8, ["a"] * 3, register=True)["a"]
    assert np.abs(np.diff(sharp, axis=1)).max() > 1.3 * np.abs(np.diff(plain, axis=1)).max()


def test_okng_follows_the_tolerance_verdict_where_rows_carry_one():
    from pinscope_schema import SampleRow
    from pinscope_trainer.data import label_of

    base = dict(file_name="images/000000.png", label="bent", mode="bend", pin=[0, 0])
    inside = SampleRow(**base, ng=False, tolerance_margin=0.25)  # a defect class, but within its tolerance
    outside = SampleRow(**base, ng=True, tolerance_margin=-0.5)
    untoleranced = SampleRow(**base)
    assert [label_of(r, "okng", {"ok"}) for r in (inside, outside, untoleranced)] == ["ok", "ng", "ng"]
    assert label_of(SampleRow(file_name="images/000001.png", label="ok", mode="ok"), "okng", {"ok"}) == "ok"


def test_tone_matching_follows_a_clipping_brighter_line_that_one_gain_cannot():
    from pinscope_trainer.features.inputs import compute_inputs

    reference = _pin_scene()
    # a brighter line whose pin tops clip while the dark ground barely moves: a monotone curve, not a gain
    line = np.clip(0.1 + 2.2 * (reference - 0.1), 0, 0.8)
    defect = line.copy()
    defect[14:34, 60:76] = 0.1
    images = (np.stack([line, defect]) * 255).round().astype(np.uint8)
    gain = compute_inputs(images, reference, "diff", align="register")
    tones = compute_inputs(images, reference, "diff", align="register-tones")
    assert np.abs(gain[0]).mean() > 5 * np.abs(tones[0]).mean()
    inside = np.abs(tones[1][:, 14:34, 60:76]).mean()
    assert inside > 20 * np.abs(tones[1][:, 6:12, 6:50]).mean()


def test_registering_the_image_shows_every_camera_pose_in_the_references_coordinates():
    from pinscope_trainer.features.inputs import compute_inputs

    reference = _pin_scene()
    poses = [dict(shift=(2.5, -1.2), angle=1.5, scale=1.04), dict(shift=(-2.0, 1.0), angle=-1.2, scale=0.96)]
    # the same part with the pin at u = 72 gone, seen from two camera poses
    shots = np.stack([_pin_scene(**pose, missing=72.0) for pose in poses])
    images = (shots * 255).round().astype(np.uint8)
    inside = (slice(None), slice(8, -8), slice(8, -8))  # the warp replicates the edge: judge the inside
    onto_image = compute_inputs(images, reference, "diff", align="register")
    onto_reference = compute_inputs(images, reference, "diff", align="register-image")
    # warped onto the reference, both poses leave the same difference, the missing pin at the reference's
    # place; the reference warped onto each image leaves it where each camera saw it
    same = np.abs(onto_reference[0] - onto_reference[1])[inside].mean()
    apart = np.abs(onto_image[0] - onto_image[1])[inside].mean()
    assert apart > 3 * same
    for diff in onto_reference:
        assert np.abs(diff[:, 14:34, 64:80]).mean() > 20 * np.abs(diff[:, 6:12, 6:50]).mean()


def test_a_register_image_run_trains_with_token_loss_predicts_as_it_evaluates_and_gets_attention_maps(tmp_path):
    import csv
    import json

    import torch
    from pinscope_trainer.checkpoints import load_checkpoint
    from pinscope_trainer.cli import main
    from pinscope_trainer.data import load_split
    from pinscope_trainer.inference import TorchPredictor
    from pinscope_trainer.synthetic import make_dataset

    data = make_dataset(tmp_path / "ds", train=16, validation=8, test=4, reference=6)
    run, cache = tmp_path / "run", tmp_path / "cache"
    args = ["train", "--data", str(data), "--out", str(run), "--cache-dir", str(cache), "--preset", "micro"]
    args += ["--patch", "8", "--epochs", "1", "--batch-size", "16", "--threads", "1", "--quiet", "--fp32"]
    args += ["--input", "diff", "--reference", "unit", "--align", "register-image", "--token-loss", "1.0"]
    assert main(args) == 0
    best = run / "checkpoints" / "best"
    info = json.loads((best / "preprocess.json").read_text())
    assert info["align"] == "register-image"
    out = tmp_path / "pred"
    assert (
        main(["predict", "--checkpoint", str(best), str(data / "test"), "--reference", str(data), "--out", str(out)])
        == 0
    )
    split = load_split(data, "test", info, cache_dir=cache)
    logits, _ = TorchPredictor(load_checkpoint(best)[0])(split.inputs)
    confidence = torch.from_numpy(logits).softmax(dim=1).max(dim=1).values.numpy()
    with open(out / "predictions.csv", newline="") as f:
        by_file = {r["file"].split("/test/")[1]: float(r["confidence"]) for r in csv.DictReader(f)}
    for row, value in zip(split.rows, confidence, strict=True):
        assert abs(by_file[row.file_name] - value) < 1e-3  # predict warps each image as training did
    # attention scores the maps where the camera saw the part: moved back onto each image with its warp
    report = tmp_path / "attention"
    assert main(["attention", "--run", str(run), "--ckpts", "best", "--out", str(report)]) == 0
    scores = json.loads((report / "scores.json").read_text())
    assert scores


def test_registering_the_image_leaves_no_difference_where_the_camera_saw_nothing():
    from pinscope_trainer.features.inputs import compute_inputs

    reference = _pin_scene()
    moved = _pin_scene(shift=(3.0, 0.0))  # the part 3 px right: the reference's right edge is out of view
    diff = compute_inputs((moved[None] * 255).round().astype(np.uint8), reference, "diff", align="register-image")
    assert np.abs(diff[0][:, :, -3:]).max() == 0.0  # not the image's edge replicated against the reference
    assert np.abs(diff[0][:, :, :-3]).mean() < 0.01
