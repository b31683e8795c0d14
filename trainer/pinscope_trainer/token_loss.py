"""Patch-token supervision: a training-only loss that tells every ViT patch token what it shows.

Why: a ViT from scratch on `rgb` renders sees 108 patch tokens of which 2-4 carry the defect, and one
image-level label. At a few hundred images it never finds those tokens (it stays at chance, while a
CNN with its built-in locality reaches ~95 %). A synthetic dataset knows where the defect is (each
row's `defect_box`), so during training every patch token also gets a label: the sample's class where
the patch covers the defective pin, the ok class everywhere else. The tokens go through the model's own
classifier (after the final layer norm), so no parameter is added and a checkpoint stays a plain
`ViTForImageClassification`; inference uses the CLS token only, exactly as without this loss.

The pure part (targets from boxes) is numpy; the loss imports torch inside.
"""

from __future__ import annotations

import numpy as np

from .attention.scores import patch_cover
from .errors import UsageError
from .features.register import box_onto_reference

# A patch counts as showing the defect when the defective pin's box covers this share of it (the patch
# holding most of the box always counts, so a pin smaller than a patch is never missed).
MIN_COVER = 0.2


def ok_label_id(rows, label_ids: np.ndarray) -> int:
    """The label id of defect-free samples (rows without a defect box): the target of background patches."""
    ids = {int(i) for row, i in zip(rows, label_ids, strict=True) if row.defect_box is None}
    if len(ids) != 1:
        raise UsageError(
            "--token-loss",
            "needs defect-free samples that share one label in the training split "
            f"(found label ids {sorted(ids) or 'none'}); use --token-loss 0",
        )
    return ids.pop()


def patch_targets(rows, label_ids, ok_id: int, render_hw, image_hw, patch: int, warps=None) -> np.ndarray:
    """(N, gh * gw) int64 patch labels in the ViT's token order (row-major over the patch grid); `warps`
    (N, 2, 3) where the model sees each image warped onto its reference (`register-image`)."""
    grid = (image_hw[0] // patch, image_hw[1] // patch)
    sy, sx = image_hw[0] / render_hw[0], image_hw[1] / render_hw[1]
    targets = np.full((len(rows), grid[0] * grid[1]), ok_id, dtype=np.int64)
    for n, (row, label) in enumerate(zip(rows, label_ids, strict=True)):
        if row.defect_box is None:
            continue
        x0, y0, x1, y1 = row.defect_box
        box = (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
        cover = patch_cover(grid, patch, box if warps is None else box_onto_reference(box, warps[n]))
        if cover.max() <= 0:  # the box lies outside the image (a pin out of view): nothing to point at
            continue
        hit = cover >= MIN_COVER
        hit[int(cover.argmax())] = True
        targets[n, hit] = int(label)
    return targets


def forward_with_tokens(model, pixel_values):
    """(CLS logits, patch logits (B, P, classes)) of a ViTForImageClassification (or its DDP wrapper)."""
    core = getattr(model, "module", model)
    out = model(pixel_values=pixel_values, output_hidden_states=True)
    tokens = core.vit.layernorm(out.hidden_states[-1][:, 1:])  # what the CLS token gets before the head
    return out.logits, core.classifier(tokens)


def token_loss(patch_logits, targets, ok_id: int, label_smoothing: float = 0.0):
    """Mean cross-entropy over defect patches plus mean over background patches (each half), so the few
    defect patches weigh as much as the ~100 background ones."""
    import torch.nn.functional as F

    flat = patch_logits.float().reshape(-1, patch_logits.shape[-1])
    per_patch = F.cross_entropy(flat, targets.reshape(-1), reduction="none", label_smoothing=label_smoothing)
    defect = targets.reshape(-1) != ok_id
    background = per_patch[~defect].mean()
    if not defect.any():
        return background
    return 0.5 * (per_patch[defect].mean() + background)


def patch_supervision(opts, ds, pre, model, train_y):
    """Patch-token targets of the train split and the ok label id, or (None, None) when the loss is off."""
    if not opts.token_loss:
        return None, None
    if opts.arch != "vit":
        raise UsageError("--token-loss", f"needs --arch vit (patch tokens), got {opts.arch!r}; use --token-loss 0")
    import torch

    rows = ds.rows("train")
    labels = train_y.cpu().numpy()
    ok_id = ok_label_id(rows, labels)
    warps = ds.image_warps("train", pre)
    targets = patch_targets(rows, labels, ok_id, ds.render_size, pre.image_size, model.config.patch_size, warps)
    return torch.from_numpy(targets).to(train_y.device), ok_id
