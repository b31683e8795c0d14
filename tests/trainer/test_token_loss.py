"""Patch-token supervision: targets from defect boxes, the balanced loss, and a run that uses it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from pinscope_trainer.checkpoints import load_checkpoint
from pinscope_trainer.cli import main
from pinscope_trainer.errors import UsageError
from pinscope_trainer.token_loss import forward_with_tokens, ok_label_id, patch_targets, token_loss
from safetensors.torch import load_file


def rows(*boxes):
    return [SimpleNamespace(defect_box=b) for b in boxes]


def test_targets_mark_the_patches_the_defect_box_covers():
    # 32 x 64 image, patch 16 -> a 2 x 4 grid; box [20, 4, 44, 14) covers patches (0,1) and (0,2) by 0.47 each
    got = patch_targets(rows([20, 4, 44, 14], None), np.array([2, 0]), 0, (32, 64), (32, 64), 16)
    assert got.shape == (2, 8)
    assert got[0].tolist() == [0, 2, 2, 0, 0, 0, 0, 0]
    assert got[1].tolist() == [0] * 8  # an ok sample: every patch is background


def test_a_box_smaller_than_the_cover_threshold_still_marks_its_main_patch():
    got = patch_targets(rows([33, 17, 37, 21]), np.array([3]), 0, (32, 64), (32, 64), 16)
    assert got[0].tolist() == [0, 0, 0, 0, 0, 0, 3, 0]  # 4 x 4 px = 6 % of patch (1, 2)


def test_boxes_scale_with_the_model_image_size():
    # render 64 x 128, model 32 x 64: the box halves, landing on patch (1, 3)
    got = patch_targets(rows([100, 40, 124, 60]), np.array([1]), 0, (64, 128), (32, 64), 16)
    assert got[0].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]


def test_boxes_move_with_the_image_onto_its_reference():
    # the camera saw the part 16 px right of the reference (the warp takes reference x to image x + 16):
    # the box [36, 4, 44, 12) of the image lies at [20, 4, 28, 12) on the reference, patch (0, 1) not (0, 2)
    warp = np.array([[[1.0, 0.0, 16.0], [0.0, 1.0, 0.0]]])
    seen = patch_targets(rows([36, 4, 44, 12]), np.array([2]), 0, (32, 64), (32, 64), 16)
    onto_reference = patch_targets(rows([36, 4, 44, 12]), np.array([2]), 0, (32, 64), (32, 64), 16, warp)
    assert seen[0].tolist() == [0, 0, 2, 0, 0, 0, 0, 0]
    assert onto_reference[0].tolist() == [0, 2, 0, 0, 0, 0, 0, 0]


def test_a_box_outside_the_image_marks_nothing():
    got = patch_targets(rows([200, 40, 220, 60]), np.array([1]), 0, (32, 64), (32, 64), 16)
    assert got[0].tolist() == [0] * 8


def test_ok_label_needs_one_shared_label_for_defect_free_rows():
    assert ok_label_id(rows(None, [0, 0, 1, 1], None), np.array([0, 2, 0])) == 0
    with pytest.raises(UsageError, match="--token-loss"):
        ok_label_id(rows([0, 0, 1, 1]), np.array([2]))


def test_loss_weighs_defect_and_background_patches_equally():
    targets = torch.tensor([[0, 0, 0, 2]])
    logits = torch.zeros(1, 4, 3)
    logits[0, 3, 2] = 50.0  # the defect patch is right, the background patches are uniform
    uniform = torch.log(torch.tensor(3.0)).item()
    assert token_loss(logits, targets, ok_id=0).item() == pytest.approx(0.5 * uniform, abs=1e-4)
    only_background = torch.tensor([[0, 0, 0, 0]])
    assert token_loss(logits, only_background, ok_id=0).item() > 0


def test_forward_with_tokens_returns_the_plain_cls_logits():
    from pinscope_trainer.models import build_vit, vit_config

    torch.manual_seed(0)
    model = build_vit(vit_config("micro", (32, 64), 16, 3, ["ok", "a", "b"])).eval()
    x = torch.randn(2, 3, 32, 64)
    with torch.no_grad():
        cls, patches = forward_with_tokens(model, x)
        plain = model(pixel_values=x).logits
    assert patches.shape == (2, 8, 3)
    assert torch.allclose(cls, plain)


def test_training_with_token_loss_keeps_a_plain_vit_checkpoint(tiny_args, synthetic_dataset, tmp_path, cache_dir):
    plain_run, token_run = tmp_path / "plain", tmp_path / "token"
    common = ("--input", "rgb", "--epochs", "3", "--no-eval", "--fp32")
    assert main(tiny_args(synthetic_dataset, plain_run, cache_dir, *common)) == 0
    assert main(tiny_args(synthetic_dataset, token_run, cache_dir, *common, "--token-loss", "1.0")) == 0
    plain = load_file(str(plain_run / "checkpoints" / "last" / "model.safetensors"))
    token = load_file(str(token_run / "checkpoints" / "last" / "model.safetensors"))
    assert plain.keys() == token.keys()  # no extra parameters: the tokens share the model's classifier
    assert any(not torch.equal(plain[k], token[k]) for k in plain)  # and the loss did change training
    model, info = load_checkpoint(token_run / "checkpoints" / "last")
    assert type(model).__name__ == "ViTForImageClassification" and info["input_mode"] == "rgb"


def test_token_loss_needs_a_vit(tiny_args, synthetic_dataset, tmp_path, cache_dir, capsys):
    args = tiny_args(synthetic_dataset, tmp_path / "run", cache_dir, "--arch", "resnet18", "--token-loss", "1")
    assert main(args) == 2
    assert "--token-loss" in capsys.readouterr().err
