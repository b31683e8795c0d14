"""The misregistration augmentation (augment.misregistered): each unit-space difference given what a
registration a fraction of a pixel off leaves, drawn per sample and step."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from pinscope_trainer.augment import misregistered
from pinscope_trainer.cli import main
from pinscope_trainer.data import PinDataset, Preprocess
from pinscope_trainer.synthetic import make_dataset
from pinscope_trainer.train import misregistration


def ramp_units(b: int, h: int = 24, w: int = 96) -> torch.Tensor:
    """Unit means that rise by 1/w a pixel left to right (channel 0) and by 1/h top to bottom (channel 1):
    moved by (dx, dy) pixels, their difference is dx/w and dy/h inside the frame."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    one = torch.stack([xs / w, ys / h, torch.full_like(xs, 0.5)])
    return one.expand(b, 3, h, w).contiguous()


def test_a_shift_and_roll_leave_a_residual_of_at_most_the_drawn_pixels_per_sample():
    b, pixels = 32, 0.8
    units = ramp_units(b)
    x = torch.zeros(b, 3, 24, 96)
    out = misregistered(x, units, torch.ones(b, 3), torch.Generator().manual_seed(2), pixels)
    inner = out[:, :, 2:-2, 2:-2]  # the border repeats its pixels: the ramp stops there
    # a shift and a roll of up to `pixels` each move no pixel of the frame by more than twice that
    assert inner[:, 0].abs().max() * 96 <= 2 * pixels + 1e-3
    assert inner[:, 1].abs().max() * 24 <= 2 * pixels + 1e-3
    # the flat channel has no edge: nothing to misregister
    assert out[:, 2].abs().max() < 1e-6
    # drawn per sample: the mean horizontal shifts spread over the range and differ between samples
    dx = inner[:, 0].mean(dim=(1, 2)) * 96
    assert dx.abs().max() <= pixels + 1e-3 and dx.std() > pixels / 4
    again = misregistered(x, units, torch.ones(b, 3), torch.Generator().manual_seed(2), pixels)
    assert torch.equal(out, again)  # a resumed run sees the same batches


def test_the_scale_says_which_channels_are_a_difference_and_by_how_much():
    b = 8
    units = ramp_units(b)
    x = torch.randn(b, 6, 24, 96, generator=torch.Generator().manual_seed(0))
    scale = torch.tensor([[0.0, 0.0, 0.0, 2.0, 2.0, 2.0]]).expand(b, 6)
    out = misregistered(x, units, scale, torch.Generator().manual_seed(4), 1.0)
    assert torch.equal(out[:, :3], x[:, :3])  # rgb-diff's render channels are left alone
    plain = misregistered(torch.zeros(b, 3, 24, 96), units, torch.ones(b, 3), torch.Generator().manual_seed(4), 1.0)
    torch.testing.assert_close(out[:, 3:] - x[:, 3:], 2 * plain)


def test_off_leaves_the_batch_and_the_random_stream_alone():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 3, 2, 2)
    assert misregistered(x, torch.zeros(4, 3, 2, 2), torch.ones(4, 3), gen, 0.0) is x
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(5).get_state())


@pytest.mark.parametrize("mode", ["diff", "rgb-diff"])
def test_each_training_sample_is_paired_with_the_unit_mean_it_was_compared_against(tmp_path, mode):
    """Two production lines, each with its unit space and line factor: every sample gets its own line's
    mean and its own line's factor over the channel's std."""
    ds = PinDataset(make_dataset(tmp_path / "lines", train=8, validation=4, test=4, reference=8, lines=2))
    pre = Preprocess(labels=ds.vocabulary("label"), input_mode=mode, reference="unit", image_size=(32, 96))
    pre = replace(pre, residual_level=1.3 * ds.residual_level(pre))  # lines whose factors are not 1
    pre = pre.fitted(ds.inputs("train", pre, normalised=False))
    units, unit_of, scale = misregistration(ds, pre, torch.device("cpu"))
    np.testing.assert_array_equal(units[unit_of].permute(0, 2, 3, 1).numpy(), ds.references("train", pre))
    lines = [r.line for r in ds.rows("train")]
    assert len(set(lines)) == 2 and len(torch.unique(unit_of)) == 2
    factors = ds.line_factors(pre)
    assert len(set(factors.values())) == 2 and 1.0 not in factors.values()
    per_channel = 1.0 / np.asarray(pre.std, dtype=np.float32)
    if mode == "rgb-diff":
        per_channel[:3] = 0.0
    expected = np.array([factors[line] for line in lines], dtype=np.float32)[:, None] * per_channel
    np.testing.assert_allclose(scale.numpy(), expected, rtol=1e-6)


def test_a_run_with_the_augmentation_records_it_and_trains(tiny_args, synthetic_dataset, tmp_path, cache_dir):
    out = tmp_path / "run"
    args = tiny_args(synthetic_dataset, out, cache_dir, "--epochs", "1", "--no-eval", "--align", "register-image")
    assert main([*args, "--aug-misregister", "0.5"]) == 0
    saved = json.loads((out / "run_config.json").read_text())["args"]
    assert saved["aug_misregister"] == 0.5
    assert (out / "checkpoints" / "last" / "model.safetensors").is_file()
