"""Thin torch glue: run a (wrapped) Hugging Face ViT and record its attention weights and gradients.

Like vit-pytorch's `recorder.py`, this hooks the attention modules for the duration of one call and
removes the hooks afterwards; everything else (rollout, relevance, pictures) is numpy in maps.py.
Works with a bare `ViTForImageClassification` (or DeiT, ...) and with a wrapper module holding one.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np


@dataclass
class Capture:
    """What one batch produced. attentions/gradients: one (B, heads, T, T) array per layer."""

    logits: np.ndarray
    attentions: list
    gradients: list | None
    targets: np.ndarray
    grid_hw: tuple
    patch_hw: tuple
    prefix: int


def find_vit(model):
    """The outermost Hugging Face model inside `model` (the model itself when it is one)."""
    from transformers import PreTrainedModel

    for module in model.modules():
        if isinstance(module, PreTrainedModel) and hasattr(module.config, "patch_size"):
            return module
    raise ValueError(f"model: no Hugging Face vision transformer found inside {type(model).__name__}")


def prepare(model):
    """Eval mode and eager attention (sdpa computes no weights: transformers >= 4.56 returns none)."""
    model.eval()
    vit = find_vit(model)
    vit.set_attn_implementation("eager")
    return vit


def attention_classes(vit) -> tuple:
    """The module classes whose second output is the attention weights (transformers' own list)."""
    recorded = getattr(vit, "_can_record_outputs", None) or {}
    for holder in vit.modules():
        recorded = recorded or getattr(holder, "_can_record_outputs", None) or {}
    spec = recorded.get("attentions")
    classes = spec if isinstance(spec, (list, tuple)) else [spec]
    classes = tuple(getattr(c, "target_class", c) for c in classes if c is not None)
    if not classes:
        raise ValueError(f"model: {type(vit).__name__} does not declare its attention modules")
    return classes


@contextmanager
def recording(vit, keep_gradients: bool):
    """Collect each attention module's weights (B, heads, T, T) in call order while active."""
    classes = attention_classes(vit)
    weights: list = []

    def hook(_module, _inputs, output):
        attention = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if attention is None:
            raise RuntimeError("attention weights are missing: the model does not run eager attention")
        if keep_gradients and attention.requires_grad:
            attention.retain_grad()
        weights.append(attention)

    handles = [m.register_forward_hook(hook) for m in vit.modules() if isinstance(m, classes)]
    try:
        yield weights
    finally:
        for handle in handles:
            handle.remove()


def logits_of(output):
    if hasattr(output, "logits"):
        return output.logits
    return output[0] if isinstance(output, (tuple, list)) else output


def patch_geometry(vit, input_hw, tokens: int) -> tuple[tuple, tuple, int]:
    """(grid_hw, patch_hw, prefix tokens) of an input; the patch embedding drops any remainder strip."""
    patch = vit.config.patch_size
    patch_hw = tuple(patch) if isinstance(patch, (list, tuple)) else (patch, patch)
    grid_hw = (input_hw[0] // patch_hw[0], input_hw[1] // patch_hw[1])
    prefix = tokens - grid_hw[0] * grid_hw[1]
    if prefix < 0:
        raise ValueError(f"model: {tokens} tokens cannot hold a {grid_hw[0]}x{grid_hw[1]} patch grid")
    return grid_hw, patch_hw, prefix


def capture(model, pixel_values, targets=None, gradients: bool = True) -> Capture:
    """Run one batch; with gradients, back-propagate each sample's target logit (default: predicted)."""
    import torch

    vit = prepare(model)
    inputs = pixel_values.detach().clone().requires_grad_(gradients)  # a graph even for frozen weights
    with torch.set_grad_enabled(gradients), recording(vit, gradients) as weights:
        logits = logits_of(model(pixel_values=inputs))
    if not weights:
        raise RuntimeError("model: no attention weights were recorded")
    chosen = logits.argmax(dim=1) if targets is None else torch.as_tensor(targets, dtype=torch.long)
    grads = None
    if gradients:
        model.zero_grad(set_to_none=True)
        logits.gather(1, chosen.view(-1, 1)).sum().backward()  # samples do not interact: one pass for all
        grads = [w.grad.detach().float().cpu().numpy() if w.grad is not None else np.zeros(w.shape) for w in weights]
    attentions = [w.detach().float().cpu().numpy() for w in weights]
    grid_hw, patch_hw, prefix = patch_geometry(vit, tuple(pixel_values.shape[-2:]), attentions[0].shape[-1])
    return Capture(
        logits.detach().float().cpu().numpy(), attentions, grads, chosen.cpu().numpy(), grid_hw, patch_hw, prefix
    )
