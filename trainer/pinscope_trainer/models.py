"""Models: Hugging Face ViT built from a ViTConfig (named size presets), a local pretrained ViT
(`--init PATH`, head kept for the same labels), and the torchvision ResNet-18 CNN baseline (no weights).

Every model is called the same way through `forward_logits(model, pixel_values)`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import UsageError

# hidden, layers, heads, MLP size. "tiny" is the default: sized for a 2-core CPU (about 100 img/s at
# 288x96, patch 16); "micro" is for tests.
PRESETS = {
    "micro": (32, 2, 2, 64),
    "tiny": (192, 6, 3, 768),
    "small": (384, 12, 6, 1536),
    "base": (768, 12, 12, 3072),
}
ARCHS = ("vit", "resnet18")


def vit_config(
    preset: str, image_size, patch: int, channels: int, labels: list[str], layers=None, hidden=None, heads=None
):
    from transformers import ViTConfig

    if preset not in PRESETS:
        raise UsageError("--preset", f"must be one of {', '.join(PRESETS)}, got {preset!r}")
    h, n_layers, n_heads, mlp = PRESETS[preset]
    hidden = hidden or h
    heads = heads or n_heads
    if hidden % heads:
        raise UsageError("--heads", f"must divide the hidden size ({hidden}), got {heads}")
    if image_size[0] % patch or image_size[1] % patch:
        raise UsageError("--patch", f"must divide the image size {image_size[0]}x{image_size[1]} (HxW), got {patch}")
    return ViTConfig(
        hidden_size=hidden,
        num_hidden_layers=layers or n_layers,
        num_attention_heads=heads,
        intermediate_size=mlp * hidden // h,
        image_size=list(image_size),
        patch_size=patch,
        num_channels=channels,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        qkv_bias=True,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
    )


def build_vit(config):
    from transformers import ViTForImageClassification

    return ViTForImageClassification(config)


def init_vit(path, image_size, channels: int, labels: list[str]):
    """A ViT from a local folder (config.json + weights); its head kept for the same labels (`head_for`)."""
    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise UsageError("--init", f"{path} has no config.json (need a local ViT folder)")
    try:
        cfg = json.loads(cfg_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UsageError("--init", f"{cfg_file} is not valid JSON: {err}") from None
    kind = cfg.get("model_type")
    if kind not in ("vit", "vit_mae"):
        raise UsageError("--init", f"{path} is not a ViT (config.json model_type {kind!r}; need 'vit' or 'vit_mae')")
    size = cfg.get("image_size")
    size = list(size) if isinstance(size, (list, tuple)) else [size, size]
    if kind == "vit_mae":  # pretrained on square crops: the encoder serves any size the patch divides
        size = list(image_size)
        patch = cfg.get("patch_size", 16)
        if image_size[0] % patch or image_size[1] % patch:
            raise UsageError(
                "--init", f"{path} has patch {patch}, which does not divide {image_size[0]}x{image_size[1]}"
            )
    if size != list(image_size) or cfg.get("num_channels", 3) != channels:
        raise UsageError(
            "--init",
            f"{path} is a ViT for {size[0]}x{size[1]} px x {cfg.get('num_channels', 3)} "
            f"channels; this run feeds {image_size[0]}x{image_size[1]} x {channels} "
            "(set --image-size / --input to match)",
        )
    from transformers import ViTConfig, ViTForImageClassification
    from transformers.utils import logging as hf_logging

    skip = ("model_type", "id2label", "label2id", "architectures", "transformers_version", "image_size")
    config = ViTConfig(**{k: v for k, v in cfg.items() if k in ViTConfig().to_dict() and k not in skip})
    config.image_size = list(image_size)
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {n: i for i, n in enumerate(labels)}
    model = ViTForImageClassification(config)
    state = load_weights(path)
    if kind == "vit_mae":  # ViTMAEForPreTraining: take its encoder (vit.*), drop the decoder
        state = {k: v for k, v in state.items() if k.startswith("vit.")}
    state = head_for(state, cfg, labels)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise UsageError("--init", f"{path}: no weights match a ViT of this configuration")
    hf_logging.get_logger("transformers").setLevel(hf_logging.ERROR)
    model.load_state_dict(usable, strict=False)
    if kind == "vit_mae":  # MAE's table was for square crops: start from the 2-D sin-cos table of this grid
        import torch

        grid = (image_size[0] // config.patch_size, image_size[1] // config.patch_size)
        table = torch.from_numpy(sincos_2d(config.hidden_size, *grid))[None]
        with torch.no_grad():
            model.vit.embeddings.position_embeddings.copy_(table)
    return model


def head_for(state: dict, cfg: dict, labels: list[str]) -> dict:
    """The source's weights with its classifier kept when it was trained for these labels.

    Fine-tuning a trained model on another line's renders keeps what its head learnt (rows put in this
    run's label order); a source for other labels, or a pretrained encoder, gets a new head."""
    row_of = {name: int(i) for i, name in (cfg.get("id2label") or {}).items()}
    weight, bias = state.get("classifier.weight"), state.get("classifier.bias")
    state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    if weight is None or bias is None or sorted(row_of) != sorted(labels) or len(row_of) != len(weight):
        return state
    order = [row_of[label] for label in labels]
    return {**state, "classifier.weight": weight[order], "classifier.bias": bias[order]}


def sincos_2d(hidden: int, grid_h: int, grid_w: int) -> np.ndarray:
    """(1 + gh * gw, hidden) 2-D sin-cos position table, CLS row zero (as MAE builds it)."""

    def one_axis(dim, positions):
        omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
        out = np.outer(positions.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    gy, gx = np.meshgrid(np.arange(grid_h, dtype=np.float64), np.arange(grid_w, dtype=np.float64), indexing="ij")
    table = np.concatenate([one_axis(hidden // 2, gy), one_axis(hidden // 2, gx)], axis=1)
    return np.concatenate([np.zeros((1, hidden)), table]).astype(np.float32)


def load_weights(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file = path / "model.safetensors"
    if not file.is_file():
        raise UsageError("--init", f"{path} has no model.safetensors")
    try:
        return load_file(str(file))
    except (OSError, SafetensorError) as err:
        raise UsageError("--init", f"cannot read {file} ({err})") from None


def build_resnet18(channels: int, num_labels: int):
    import torch
    import torch.nn as nn
    from torchvision.models import resnet18

    model = resnet18(weights=None, num_classes=num_labels)
    if channels != 3:
        model.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model.to(memory_format=torch.channels_last)


def resnet_config(channels: int, labels: list[str]) -> dict:
    return {
        "model_type": "pinscope_resnet18",
        "num_channels": channels,
        "num_labels": len(labels),
        "id2label": {str(i): n for i, n in enumerate(labels)},
    }


def model_from_config(config: dict):
    """Rebuild an untrained model from a checkpoint's config.json."""
    if config.get("model_type") == "pinscope_resnet18":
        return build_resnet18(config["num_channels"], config["num_labels"])
    from transformers import ViTConfig

    return build_vit(ViTConfig.from_dict(config))


def model_config_dict(model) -> dict:
    if hasattr(model, "config"):
        return model.config.to_dict()
    return model.pinscope_config


def is_vit(model) -> bool:
    """A Hugging Face ViT (possibly inside DistributedDataParallel), not the ResNet baseline."""
    return hasattr(getattr(model, "module", model), "config")


def forward_logits(model, pixel_values):
    if is_vit(model):
        return model(pixel_values=pixel_values).logits
    # convolutions run about 3x faster on this CPU in channels-last layout (fp32); a no-op for the values
    import torch

    return model(pixel_values.contiguous(memory_format=torch.channels_last))


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
