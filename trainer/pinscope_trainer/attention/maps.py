"""Attention maps of a ViT as pure numpy maths (no torch here, so it is tested on small arrays).

Conventions
- One layer's attention is an array (B, heads, T, T): row i is how token i mixes the tokens.
  Tokens are `prefix` special tokens (1 CLS for ViT, CLS + distillation for DeiT) then the patches
  row-major over the patch grid (gh rows x gw columns; gh != gw is fine).
- A map is (B, P) over the P = gh * gw patches; `to_grid` reshapes it to (B, gh, gw).
- `patch_to_pixels` puts a grid map onto any image whose pixels relate to the model input by an
  axis-aligned scale + offset (`Placement`), which covers "the model input is the render resized"
  and "the model input is a crop of the render resized".

References: Abnar & Zuidema 2020 (rollout), Chefer, Gur & Wolf, ICCV 2021 (gradient-weighted relevance),
Caron et al. 2021 (DINO, last-layer CLS attention per head).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

HEAD_FUSIONS = ("mean", "max", "min")


def _batched(attention: np.ndarray) -> np.ndarray:
    """Accept (heads, T, T) for one sample or (B, heads, T, T); always return the 4-D form."""
    attention = np.asarray(attention, dtype=np.float64)
    if attention.ndim == 3:
        attention = attention[None]
    if attention.ndim != 4 or attention.shape[-1] != attention.shape[-2]:
        raise ValueError(f"attention: expected (B, heads, T, T) or (heads, T, T), got shape {attention.shape}")
    return attention


def cls_attention(last_layer: np.ndarray, prefix: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Last-layer attention of the CLS token to the patches: (per head (B, heads, P), head mean (B, P))."""
    attention = _batched(last_layer)
    per_head = attention[:, :, 0, prefix:]
    return per_head, per_head.mean(axis=1)


def fuse_heads(attention: np.ndarray, head_fusion: str = "mean") -> np.ndarray:
    """(B, heads, T, T) -> (B, T, T) by the mean, max or min over the heads."""
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion: must be one of {', '.join(HEAD_FUSIONS)}, got {head_fusion!r}")
    return getattr(np, head_fusion)(_batched(attention), axis=1)


def discard_weakest(fused: np.ndarray, discard_ratio: float) -> np.ndarray:
    """Zero the weakest `discard_ratio` share of each sample's links, never the CLS->CLS link.

    As in vit-explain: the weakest entries over the whole T x T matrix are dropped, so that the
    rollout follows the strong paths only.
    """
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"discard_ratio: must be in [0, 1), got {discard_ratio}")
    fused = fused.copy()
    batch, tokens, _ = fused.shape
    count = int(tokens * tokens * discard_ratio)
    if count == 0:
        return fused
    flat = fused.reshape(batch, -1)
    weakest = np.argpartition(flat, count - 1, axis=1)[:, :count]
    for b in range(batch):
        drop = weakest[b][weakest[b] != 0]  # index 0 is CLS->CLS: keep it so the CLS row never vanishes
        flat[b, drop] = 0.0
    return flat.reshape(batch, tokens, tokens)


def with_residual(fused: np.ndarray) -> np.ndarray:
    """Add the identity (the residual connection) and renormalise every row to sum 1.

    The row sums are kept as (B, T, 1) (keepdims): vit-explain divides by `a.sum(dim=-1)` without
    keepdim, which broadcasts over the last axis and divides column j by row j's sum instead.
    """
    tokens = fused.shape[-1]
    mixed = fused + np.eye(tokens)
    return mixed / mixed.sum(axis=-1, keepdims=True)


def rollout(attentions, head_fusion: str = "mean", discard_ratio: float = 0.0, prefix: int = 1) -> np.ndarray:
    """Attention rollout: the product of the per-layer (fused, residual, renormalised) matrices.

    `attentions` is one (B, heads, T, T) array per layer, first layer first. Returns (B, P): the CLS
    row of the product over the patch tokens.
    """
    layers = [_batched(a) for a in attentions]
    if not layers:
        raise ValueError("attentions: need at least one layer")
    batch, _, tokens, _ = layers[0].shape
    joint = np.broadcast_to(np.eye(tokens), (batch, tokens, tokens)).copy()
    for attention in layers:
        fused = fuse_heads(attention, head_fusion)
        if discard_ratio > 0:
            fused = discard_weakest(fused, discard_ratio)
        joint = with_residual(fused) @ joint
    return joint[:, 0, prefix:]


def gradient_relevance(attentions, gradients, prefix: int = 1) -> np.ndarray:
    """Class-specific relevance (Chefer et al. 2021): R = I; per layer R += mean_heads(relu(dA * A)) R.

    `gradients[l]` is d(target logit)/d(attentions[l]), same shape. Returns (B, P): R[CLS, patches].
    """
    layers = [_batched(a) for a in attentions]
    grads = [_batched(g) for g in gradients]
    if not layers or len(layers) != len(grads):
        raise ValueError(f"gradients: need one per attention layer ({len(layers)}), got {len(grads)}")
    batch, _, tokens, _ = layers[0].shape
    relevance = np.broadcast_to(np.eye(tokens), (batch, tokens, tokens)).copy()
    for attention, grad in zip(layers, grads, strict=True):
        if grad.shape != attention.shape:
            raise ValueError(f"gradients: shape {grad.shape} differs from its attention {attention.shape}")
        weighted = np.maximum(grad * attention, 0.0).mean(axis=1)
        relevance = relevance + weighted @ relevance
    return relevance[:, 0, prefix:]


def to_grid(patch_map: np.ndarray, grid_hw: tuple[int, int]) -> np.ndarray:
    """(B, P) or (P,) -> (B, gh, gw) or (gh, gw), row-major as the patch embedding flattens them."""
    patch_map = np.asarray(patch_map)
    gh, gw = grid_hw
    if patch_map.shape[-1] != gh * gw:
        raise ValueError(f"map: {patch_map.shape[-1]} patches do not fit a {gh}x{gw} grid")
    return patch_map.reshape(*patch_map.shape[:-1], gh, gw)


def normalise(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] per map over the last two axes; a constant map becomes all zeros."""
    values = np.asarray(values, dtype=np.float64)
    low = values.min(axis=(-2, -1), keepdims=True)
    span = values.max(axis=(-2, -1), keepdims=True) - low
    return np.where(span > 0, (values - low) / np.where(span > 0, span, 1.0), 0.0)


@dataclass(frozen=True)
class Placement:
    """Where the model input sits on another image: input pixel (u, v) is image pixel
    (x0 + u * scale_x, y0 + v * scale_y). For a plain resize of a W x H render to w x h:
    Placement(0, 0, W / w, H / h); for the input itself: Placement()."""

    x0: float = 0.0
    y0: float = 0.0
    scale_x: float = 1.0
    scale_y: float = 1.0

    @classmethod
    def resize(cls, image_hw, input_hw, box=None) -> Placement:
        """The input is `box` = (x0, y0, x1, y1) of the image (default: all of it) resized to input_hw."""
        height, width = image_hw
        x0, y0, x1, y1 = box if box is not None else (0.0, 0.0, float(width), float(height))
        return cls(float(x0), float(y0), (x1 - x0) / input_hw[1], (y1 - y0) / input_hw[0])


@lru_cache(maxsize=64)  # one per (axis, image size, placement): predict draws thousands of maps alike
def _axis_weights(out_size: int, offset: float, scale: float, patch: int, cells: int, smooth: bool) -> np.ndarray:
    """(out_size, cells) weights that sample a 1-D patch axis at every output pixel centre.

    Output pixels that fall outside the patches (outside the input, or in the strip the patch
    embedding drops when the input is not a multiple of the patch size) get weight 0.
    """
    centres = (np.arange(out_size) + 0.5 - offset) / scale  # in input pixels
    inside = (centres >= 0) & (centres < cells * patch)
    weights = np.zeros((out_size, cells))
    if smooth:  # bilinear between patch centres, clamped at the edges
        position = np.clip(centres / patch - 0.5, 0, cells - 1)
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, cells - 1)
        frac = position - low
        rows = np.arange(out_size)
        np.add.at(weights, (rows, low), 1.0 - frac)
        np.add.at(weights, (rows, high), frac)
    else:  # each pixel takes its own patch's value: masses stay exact
        index = np.clip(np.floor(centres / patch).astype(int), 0, cells - 1)
        weights[np.arange(out_size), index] = 1.0
    weights[~inside] = 0.0
    weights.setflags(write=False)  # shared between calls
    return weights


def patch_to_pixels(
    grid_map: np.ndarray, patch_hw, out_hw, placement: Placement = Placement(), smooth: bool = True
) -> np.ndarray:
    """Sample a (…, gh, gw) patch map onto an out_hw image placed relative to the input by `placement`.

    smooth=True interpolates bilinearly (pictures); smooth=False keeps one value per patch (scores:
    a patch's weight is spread evenly over the pixels it covers, so masses are exact).
    """
    grid_map = np.asarray(grid_map, dtype=np.float64)
    gh, gw = grid_map.shape[-2:]
    ph, pw = (patch_hw, patch_hw) if np.isscalar(patch_hw) else patch_hw
    rows = _axis_weights(out_hw[0], placement.y0, placement.scale_y, ph, gh, smooth)
    cols = _axis_weights(out_hw[1], placement.x0, placement.scale_x, pw, gw, smooth)
    return rows @ grid_map @ cols.T


def onto_image(pixel_map: np.ndarray, warp, input_hw, smooth: bool = True) -> np.ndarray:
    """A map on the render's pixels (`patch_to_pixels`) of a model that saw the image warped onto its
    reference (`--align register-image`), moved to where the camera saw it. `warp` (2, 3) takes
    reference pixels to the image's at the model's input size (features.register.image_warps); None:
    the map as it is. Pixels of the image the reference's frame does not show get 0."""
    if warp is None:
        return pixel_map
    import cv2

    out_h, out_w = pixel_map.shape[-2:]
    sx, sy = out_w / input_hw[1], out_h / input_hw[0]
    scale = np.diag([sx, sy, 1.0])
    full = np.vstack([np.asarray(warp, dtype=np.float64), [0.0, 0.0, 1.0]])
    at_render = (scale @ full @ np.linalg.inv(scale))[:2]
    flags = cv2.INTER_LINEAR if smooth else cv2.INTER_NEAREST
    # without WARP_INVERSE_MAP: image pixel p takes the map at warp^-1 p, the reference pixel it shows
    return cv2.warpAffine(
        np.asarray(pixel_map, dtype=np.float64), at_render, (out_w, out_h), flags=flags, borderValue=0.0
    )
