"""Training loop: loss goes down, checkpoints at the requested epochs reload to identical logits,
kill-and-resume ends with the same weights, the ResNet baseline trains through the same loop."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import torch
from pinscope_trainer.checkpoints import list_checkpoints, load_checkpoint, load_trainer_state
from pinscope_trainer.cli import main
from pinscope_trainer.data import load_split
from safetensors.torch import load_file


def read_metrics(run):
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_tiny_vit_loss_goes_down(tiny_args, synthetic_dataset, tmp_path, cache_dir):
    run = tmp_path / "run"
    args = tiny_args(
        synthetic_dataset,
        run,
        cache_dir,
        "--input",
        "diff",
        "--reference",
        "twin",
        "--epochs",
        "8",
        "--lr",
        "2e-3",
        "--no-augment",
        "--no-eval",
    )
    assert main(args) == 0
    rows = read_metrics(run)
    assert len(rows) == 8
    assert float(rows[-1]["train_loss"]) < 0.9 * float(rows[0]["train_loss"])


def test_checkpoints_at_requested_epochs_reload_to_identical_logits(tiny_args, synthetic_dataset, tmp_path, cache_dir):
    run = tmp_path / "run"
    args = tiny_args(
        synthetic_dataset, run, cache_dir, "--epochs", "4", "--save-epochs", "1,3", "--save-every", "2", "--fp32"
    )
    assert main(args) == 0
    assert [e for e, _ in list_checkpoints(run)] == [1, 2, 3, 4]
    for name in ("best", "last"):
        assert (run / "checkpoints" / name / "model.safetensors").is_file()
    state = load_trainer_state(run / "checkpoints" / "epoch-0003")  # weights_only=True: no pickle
    assert state["epoch"] == 3 and len(state["history"]) == 3
    model, info = load_checkpoint(run / "checkpoints" / "epoch-0004")
    assert not model.training and info["labels"] == ["ok", "retract", "tilt_x", "tilt_y"]
    data = load_split(synthetic_dataset, "validation", info, cache_dir=cache_dir)
    with torch.no_grad():
        logits = model(pixel_values=data.inputs).logits
        again = load_checkpoint(run / "checkpoints" / "last")[0](pixel_values=data.inputs).logits
    assert torch.equal(logits, again)
    # the loss the loop logged for epoch 4 is the loss of the reloaded weights
    logged = float(read_metrics(run)[3]["val_loss"])
    assert abs(torch.nn.functional.cross_entropy(logits, data.labels).item() - logged) < 1e-5
    run_config = json.loads((run / "run_config.json").read_text())
    assert run_config["dataset"]["spec_hash"] and run_config["preprocess"]["normalisation"]["fitted_on"] == "train"
    for name in ("metrics.json", "confusion.json", "confusion.png", "curves.png"):
        assert (run / "eval" / name).is_file()
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert set(metrics["test"]["per_class"]) == {"ok", "retract", "tilt_x", "tilt_y"}
    assert "| test |" in (run / "report.md").read_text()
    # eval/mistakes.csv lists exactly the images the confusion matrix counts off the diagonal
    with open(run / "eval" / "mistakes.csv", newline="") as f:
        listed = list(csv.DictReader(f))
    for split in ("validation", "test"):
        matrix = metrics[split]["confusion"]
        off_diagonal = sum(matrix[i][j] for i in range(len(matrix)) for j in range(len(matrix)) if i != j)
        assert sum(m["split"] == split for m in listed) == off_diagonal
    for m in listed:
        assert m["true"] != m["predicted"] and (synthetic_dataset / m["file_name"]).is_file()
    assert metrics["mistakes"] == len(listed)


def run_cli(args, env_extra=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "pinscope_trainer.cli", *args], env=env, capture_output=True, text=True, timeout=240
    )


def test_kill_and_resume_gives_identical_weights(tiny_args, synthetic_dataset, tmp_path, cache_dir):
    common = ("--epochs", "3", "--no-eval")
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    assert main(tiny_args(synthetic_dataset, whole, cache_dir, *common)) == 0
    killed = run_cli(tiny_args(synthetic_dataset, broken, cache_dir, *common), {"PINSCOPE_KILL_AT": "3:1"})
    assert killed.returncode == -9, killed.stderr  # SIGKILL in the middle of epoch 3
    assert load_trainer_state(broken / "checkpoints" / "last")["epoch"] == 2
    resumed = run_cli(tiny_args(synthetic_dataset, broken, cache_dir, *common, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    a = load_file(str(whole / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(broken / "checkpoints" / "last" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert read_metrics(whole) == [
        dict(r, seconds=w["seconds"], img_per_s=w["img_per_s"])
        for r, w in zip(read_metrics(broken), read_metrics(whole), strict=True)
    ]


def test_resnet_baseline_trains_through_the_same_loop(tiny_args, synthetic_dataset, tmp_path, cache_dir):
    run = tmp_path / "cnn"
    assert (
        main(
            tiny_args(
                synthetic_dataset,
                run,
                cache_dir,
                "--arch",
                "resnet18",
                "--epochs",
                "2",
                "--input",
                "soart3",
                "--reference",
                "unit",
                "--save-epochs",
                "2",
            )
        )
        == 0
    )
    model, info = load_checkpoint(run / "checkpoints" / "epoch-0002")
    assert info["arch"] == "resnet18" and not hasattr(model, "config")
    data = load_split(synthetic_dataset, "test", info, cache_dir=cache_dir)
    with torch.no_grad():
        assert model(data.inputs).shape == (16, 4)
    assert json.loads((run / "eval" / "metrics.json").read_text())["test"]["n"] == 16


def test_six_channel_rgb_diff_vit_trains_and_reloads(tiny_args, synthetic_dataset, tmp_path, cache_dir):
    run = tmp_path / "rgbdiff"
    args = tiny_args(synthetic_dataset, run, cache_dir, "--input", "rgb-diff", "--epochs", "1", "--no-eval")
    assert main(args) == 0
    model, info = load_checkpoint(run / "checkpoints" / "last")
    assert model.config.num_channels == 6 and info["reference"] == "unit"
    data = load_split(synthetic_dataset, "test", info, cache_dir=cache_dir)
    with torch.no_grad():
        assert model(pixel_values=data.inputs).logits.shape == (16, 4)


def test_bf16_autocast_and_evaluate_command(tiny_args, synthetic_dataset, tmp_path, cache_dir, capsys):
    run = tmp_path / "bf16"
    assert main(tiny_args(synthetic_dataset, run, cache_dir, "--bf16", "--epochs", "1", "--no-eval")) == 0
    assert not (run / "eval").exists()
    assert main(["evaluate", "--run", str(run), "--checkpoint", "last"]) == 0
    assert "test acc" in capsys.readouterr().out
    assert (run / "eval" / "metrics.json").is_file()


def test_distillation_from_the_cnn_baseline(tiny_args, synthetic_dataset, tmp_path, cache_dir, capsys):
    teacher = tmp_path / "teacher"
    assert (
        main(tiny_args(synthetic_dataset, teacher, cache_dir, "--arch", "resnet18", "--epochs", "1", "--no-eval")) == 0
    )
    student = tmp_path / "student"
    best = str(teacher / "checkpoints" / "best")
    assert (
        main(
            tiny_args(
                synthetic_dataset,
                student,
                cache_dir,
                "--epochs",
                "1",
                "--no-eval",
                "--teacher",
                best,
                "--distill-alpha",
                "0.7",
            )
        )
        == 0
    )
    args = json.loads((student / "run_config.json").read_text())["args"]
    assert args["teacher"] == best and args["distill_alpha"] == 0.7
    assert main(tiny_args(synthetic_dataset, tmp_path / "other", cache_dir, "--input", "rgb", "--teacher", best)) == 2
    assert "error: --teacher:" in capsys.readouterr().err


def test_two_processes_with_torchrun_match_one(tiny_args, synthetic_dataset, tmp_path, cache_dir):
    """Data parallel over 2 CPU processes (what `accelerate launch`/`torchrun` start) follows the
    single-process run: each rank trains on half of the same global batch, DDP averages gradients."""
    single, double = tmp_path / "one", tmp_path / "two"
    common = ("--epochs", "2", "--no-augment", "--no-eval", "--fp32")
    assert main(tiny_args(synthetic_dataset, single, cache_dir, *common)) == 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
        "-m",
        "pinscope_trainer.cli",
        *tiny_args(synthetic_dataset, double, cache_dir, *common),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    a = load_file(str(single / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(double / "checkpoints" / "last" / "model.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert len(read_metrics(double)) == 2
    assert json.loads((double / "run_config.json").read_text())["processes"] == 2
    assert json.loads((single / "run_config.json").read_text())["processes"] == 1


def test_mae_pretraining_then_init(tiny_args, synthetic_dataset, tmp_path, cache_dir, capsys):
    """ViTMAE learns on square crops of the unlabelled renders; --init moves its encoder into the
    non-square classification ViT (weights copied, position table rebuilt for the new grid)."""
    mae = tmp_path / "mae"
    assert (
        main(
            [
                "pretrain-mae",
                "--data",
                str(synthetic_dataset),
                "--out",
                str(mae),
                "--preset",
                "micro",
                "--patch",
                "8",
                "--epochs",
                "1",
                "--batch-size",
                "32",
                "--cache-dir",
                str(cache_dir),
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((mae / "config.json").read_text())["model_type"] == "vit_mae"
    run = tmp_path / "run"
    assert main(tiny_args(synthetic_dataset, run, cache_dir, "--epochs", "1", "--no-eval", "--init", str(mae))) == 0
    from pinscope_trainer.models import init_vit

    model = init_vit(mae, (32, 96), 3, ["a", "b"])
    encoder = load_file(str(mae / "model.safetensors"))
    key = "vit.layers.0.attention.q_proj.weight"
    assert torch.equal(model.state_dict()[key], encoder[key])
    assert model.vit.embeddings.position_embeddings.shape[1] == 1 + (32 // 8) * (96 // 8)


def test_init_from_a_trained_run_keeps_its_head_for_the_same_labels(tiny_args, synthetic_dataset, tmp_path, cache_dir):
    """Fine-tuning starts from what the model reads already: its classifier rows, in this run's label
    order; for other labels the head is new."""
    run = tmp_path / "run"
    assert main(tiny_args(synthetic_dataset, run, cache_dir, "--epochs", "1", "--no-eval")) == 0
    best = run / "checkpoints" / "best"
    cfg = json.loads((best / "config.json").read_text())
    labels = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
    size, channels = tuple(cfg["image_size"]), cfg["num_channels"]
    stored = load_file(str(best / "model.safetensors"))
    from pinscope_trainer.models import init_vit

    same = init_vit(best, size, channels, labels)
    assert torch.equal(same.classifier.weight, stored["classifier.weight"])
    reordered = init_vit(best, size, channels, labels[::-1])
    assert torch.equal(reordered.classifier.weight, stored["classifier.weight"].flip(0))
    assert torch.equal(reordered.classifier.bias, stored["classifier.bias"].flip(0))
    other = init_vit(best, size, channels, [*labels[:-1], "scratched"])
    assert not torch.equal(other.classifier.weight[0], stored["classifier.weight"][0])
    key = "vit.embeddings.patch_embeddings.projection.weight"
    assert torch.equal(other.state_dict()[key], stored[key])
