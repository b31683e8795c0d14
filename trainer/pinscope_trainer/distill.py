"""Knowledge distillation from a trained teacher (e.g. the ResNet-18 baseline) into the ViT."""

from __future__ import annotations

from pathlib import Path

from .checkpoints import load_checkpoint
from .data import Preprocess
from .errors import UsageError
from .inference import predict_logits


def teacher_train_logits(opts, pre: Preprocess, train_x):
    """Soft targets from a trained teacher (e.g. the ResNet-18 baseline), computed once on the clean
    training inputs: knowledge distillation (Hinton et al.; DeiT uses a CNN teacher the same way)."""
    if not opts.teacher:
        return None
    path = Path(opts.teacher)
    if not (path / "model.safetensors").is_file() or not (path / "preprocess.json").is_file():
        raise UsageError("--teacher", f"{path} is not a checkpoint folder (need model.safetensors + preprocess.json)")
    teacher, tinfo = load_checkpoint(path, field="--teacher")
    teacher.to(train_x.device)
    mine = pre.to_info()
    for key in ("labels", "input_mode", "reference", "image_size", "soart3"):
        if tinfo.get(key) != mine[key]:
            raise UsageError(
                "--teacher", f"{path} was trained with another {key} ({tinfo.get(key)!r}, this run {mine[key]!r})"
            )
    return predict_logits(teacher, train_x, bf16=opts.bf16).to(train_x.device)


def distill_loss(student_logits, teacher_logits, temperature: float):
    import torch.nn.functional as F

    t = temperature
    return (
        F.kl_div(
            F.log_softmax(student_logits / t, 1),
            F.log_softmax(teacher_logits / t, 1),
            reduction="batchmean",
            log_target=True,
        )
        * t
        * t
    )
