"""The unit space nearest in conditions (features/nearest.py): pure numpy, no model."""

import numpy as np
import pytest
from pinscope_trainer.features.nearest import nearest_choice, nearest_references, tone_descriptors


def scene(housing: float, pins: float, shift: int = 0) -> np.ndarray:
    """A 24 x 48 picture: a housing of one grey with three bright pins, moved `shift` px to the right."""
    image = np.full((24, 48, 3), housing, dtype=np.float64)
    for x in (8, 22, 36):
        image[8:16, x + shift : x + shift + 4] = pins
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def test_descriptors_follow_the_tone_and_ignore_the_layout():
    dark, light, moved = scene(0.1, 0.8), scene(0.4, 0.8), scene(0.1, 0.8, shift=2)
    d = tone_descriptors(np.stack([dark, light, moved]))
    assert d.shape == (3, 18)
    assert np.abs(d[0] - d[2]).max() < 1e-6  # the same tones, the pins elsewhere
    assert np.abs(d[0] - d[1]).max() > 0.25  # the housing's grey moved by 0.3


def test_each_image_gets_the_references_of_its_own_conditions():
    bank = np.stack([scene(v, 0.8) for v in (0.05, 0.1, 0.3, 0.35, 0.6)])
    choice = nearest_choice(tone_descriptors(np.stack([scene(0.32, 0.8), scene(0.07, 0.8)])), tone_descriptors(bank), 2)
    assert choice == [(2, 3), (0, 1)]


def test_references_are_the_mean_of_the_chosen_and_stay_within_a_view():
    bank = np.stack([scene(0.1, 0.8), scene(0.4, 0.8), scene(0.1, 0.6), scene(0.4, 0.6)])
    bank_views = ["left", "left", "right", "right"]
    images = np.stack([scene(0.38, 0.8), scene(0.12, 0.6)])
    refs = nearest_references(images, ["left", "right"], bank, bank_views, k=1, register=False)
    assert refs.dtype == np.float32 and refs.shape == images.shape
    np.testing.assert_allclose(refs[0], bank[1] / 255.0, atol=1e-6)  # left's light housing
    np.testing.assert_allclose(refs[1], bank[2] / 255.0, atol=1e-6)  # right's dark one, not left's
    pair = nearest_references(images[:1], ["left"], bank, bank_views, k=2, register=False)
    np.testing.assert_allclose(pair[0], bank[:2].mean(axis=0) / 255.0, atol=1e-6)


def test_a_view_without_references_is_named():
    bank = np.stack([scene(0.1, 0.8)])
    with pytest.raises(KeyError, match="top"):
        nearest_references(np.stack([scene(0.1, 0.8)]), ["top"], bank, ["left"], k=3, register=True)


def test_a_nearest_run_predicts_as_it_evaluates_and_carries_its_references(tmp_path):
    """--reference nearest end to end: the checkpoint carries each camera's reference renders, and
    predict (which chooses from them per image) reproduces evaluate's test accuracy."""
    import csv
    import json

    from pinscope_trainer.cli import main
    from pinscope_trainer.portable import PortableReference
    from pinscope_trainer.synthetic import make_dataset

    data = make_dataset(tmp_path / "ds", train=32, validation=8, test=12, reference=6)
    run = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(run), "--cache-dir", str(tmp_path / "cache")]
    args += ["--preset", "micro"]
    args += ["--patch", "8", "--epochs", "2", "--batch-size", "16", "--threads", "1", "--quiet", "--fp32"]
    args += ["--input", "diff", "--reference", "nearest", "--nearest", "2", "--align", "register"]
    assert main(args) == 0
    best = run / "checkpoints" / "best"
    info = json.loads((best / "preprocess.json").read_text())
    assert info["reference"] == "nearest" and info["nearest"] == 2
    carried = PortableReference.load(best)
    assert sum(len(b) for b in carried.banks.values()) == 6 and all(b.dtype == np.uint8 for b in carried.banks.values())
    out = tmp_path / "pred"
    assert main(["predict", "--checkpoint", str(best), str(data / "test"), "--out", str(out), "--threads", "1"]) == 0
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    accuracy = sum(r["correct"] == "True" for r in rows) / len(rows)
    assert len(rows) == 12 and accuracy == json.loads((run / "eval" / "metrics.json").read_text())["test"]["accuracy"]
    # and image by image: predict's confidences are those of the dataset's own nearest-reference inputs
    import torch
    from pinscope_trainer.checkpoints import load_checkpoint
    from pinscope_trainer.data import load_split
    from pinscope_trainer.inference import TorchPredictor

    split = load_split(data, "test", info, cache_dir=tmp_path / "cache")
    logits, _ = TorchPredictor(load_checkpoint(best)[0])(split.inputs)
    confidence = torch.from_numpy(logits).softmax(dim=1).max(dim=1).values.numpy()
    by_file = {r["file"].split("/test/")[1]: float(r["confidence"]) for r in rows}
    for row, value in zip(split.rows, confidence, strict=True):
        assert abs(by_file[row.file_name] - value) < 1e-3


def test_a_nearest_checkpoint_without_its_reference_renders_is_bad_input(tmp_path, capsys):
    """A nearest model's reference.safetensors with the renders stripped: one line naming --reference, exit 2."""
    from pinscope_trainer.cli import main
    from pinscope_trainer.portable import PortableReference
    from pinscope_trainer.synthetic import make_dataset

    data = make_dataset(tmp_path / "ds", train=16, validation=8, test=4, reference=3)
    run = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(run), "--cache-dir", str(tmp_path / "cache")]
    args += ["--preset", "micro", "--patch", "8", "--epochs", "1", "--batch-size", "16", "--threads", "1"]
    args += ["--quiet", "--fp32", "--input", "diff", "--reference", "nearest", "--no-eval"]
    assert main(args) == 0
    best = run / "checkpoints" / "best"
    carried = PortableReference.load(best)
    carried.banks = {}
    carried.save(best)
    out = tmp_path / "pred"
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(best), str(data / "test"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --reference:") and "reference renders" in err[0]
    assert not out.exists()
