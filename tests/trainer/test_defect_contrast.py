"""The defect-contrast augmentation (augment.toward_twin): each sample's input is its twin's plus the
defect's own part, and training draws that part weaker and the twin's residual stronger."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from pinscope_trainer.augment import toward_twin
from pinscope_trainer.cli import main
from pinscope_trainer.data import PinDataset, Preprocess


def preprocess(ds, align):
    labels = ds.vocabulary("label")
    return Preprocess(labels=labels, input_mode="diff", reference="unit", image_size=(32, 96), align=align)


@pytest.mark.parametrize("align", ["none", "gain", "register-image"])
def test_a_twins_input_is_its_samples_input_without_the_defect(synthetic_dataset, cache_dir, align):
    """Compared against the same reference (and, on the reference's pixels, with the sample's own warp),
    a sample and its twin differ at the defect and by their noise: what the augmentation scales is the
    defect's part. (The synthetic twins draw noise of their own, as a render's samples do.)"""
    ds = PinDataset(synthetic_dataset, cache_dir=cache_dir)
    pre = preprocess(ds, align)
    images, twins = ds.inputs("train", pre, normalised=False), ds.inputs("train", pre, normalised=False, role="twin")
    if align == "none":  # (image - unit) - (twin - unit) is the difference from the twin itself
        against_twin = ds.inputs("train", replace(pre, reference="twin"), normalised=False)
        np.testing.assert_allclose(images - twins, against_twin, atol=1e-6)
    rows = ds.rows("train")
    defective = [i for i, r in enumerate(rows) if r.label != "ok"]
    assert defective
    for i in defective:
        x0, y0, x1, y1 = rows[i].defect_box
        own = np.abs(images[i] - twins[i]).sum(axis=0)
        inside = np.zeros(own.shape, bool)
        inside[y0:y1, x0:x1] = True
        assert own[inside].mean() > 3 * own[~inside].mean(), (i, own[inside].mean(), own[~inside].mean())


def test_toward_twin_scales_the_defect_down_and_the_residual_up_per_sample():
    gen = torch.Generator().manual_seed(3)
    twin = torch.randn(64, 3, 4, 5, generator=gen)
    defect = torch.randn(64, 3, 4, 5, generator=gen)
    out = toward_twin(twin + defect, twin, torch.Generator().manual_seed(1), 0.4, 1.5)
    # out = twin * ok + defect * d, per sample: recover (ok, d) from two known parts by least squares
    parts = torch.stack([twin.flatten(1), defect.flatten(1)], dim=2)
    factors = torch.linalg.lstsq(parts, out.flatten(1)[..., None]).solution[..., 0]
    ok, d = factors[:, 0], factors[:, 1]
    assert torch.allclose(parts @ factors[..., None], out.flatten(1)[..., None], atol=1e-5)
    assert (ok >= 1 - 1e-5).all() and (ok <= 1.5 + 1e-5).all() and ok.std() > 0.05
    assert (d >= 0.4 - 1e-5).all() and (d <= 1 + 1e-5).all() and d.std() > 0.05
    # reproducible from the generator's seed (a resumed run sees the same batches)
    again = toward_twin(twin + defect, twin, torch.Generator().manual_seed(1), 0.4, 1.5)
    assert torch.equal(out, again)


def test_toward_twin_off_leaves_the_batch_and_the_random_stream_alone():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 3, 2, 2)
    assert toward_twin(x, torch.zeros_like(x), gen, 1.0, 1.0) is x
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(5).get_state())


def test_a_run_with_the_augmentation_records_it_and_trains(tiny_args, synthetic_dataset, tmp_path, cache_dir):
    out = tmp_path / "run"
    args = tiny_args(synthetic_dataset, out, cache_dir, "--epochs", "1", "--no-eval", "--align", "register-image")
    assert main([*args, "--aug-defect-contrast", "0.4", "--aug-residual", "1.5"]) == 0
    saved = json.loads((out / "run_config.json").read_text())["args"]
    assert (saved["aug_defect_contrast"], saved["aug_residual"]) == (0.4, 1.5)
    assert (out / "checkpoints" / "last" / "model.safetensors").is_file()
