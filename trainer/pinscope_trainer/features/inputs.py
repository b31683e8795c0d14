"""Input modes: what the model sees, computed from a render and its reference (pure numpy).

- rgb:    the render alone, in [0, 1].
- diff:   render - reference, in [-1, 1].
- rgb-diff: both, stacked as 6 channels (render, then render - reference): the difference points at
          what changed, the render keeps what the mean blurs away (absolute sizes and edges).
- soart3: the SOART3 metric image (features/soart3.py), upsampled back to the render size.

The reference is either the sample's defect-free `twin` (same camera and lights: privileged
information a production line lacks) or the `unit` space (per-view mean of the dataset's reference/
renders: what a real line has). Normalisation (per-channel mean/std) is fitted on the training split
only, by `fit_normalisation`.
"""

from __future__ import annotations

import numpy as np

from .register import images_onto, registered_mean, registered_references
from .soart3 import Soart3Options, soart3_maps, upsample_to

INPUT_MODES = ("rgb", "diff", "rgb-diff", "soart3")
REFERENCES = ("twin", "unit", "nearest")
# How the reference is matched to each image before the difference: none, or `gain` -- per image and
# channel the affine a * reference + b closest to the image (least squares over all pixels), what a
# template comparison does before subtracting: a line brighter, warmer or with a lighter housing than its
# unit space then leaves the defect, not the lighting, in the difference; or `register` -- the reference
# first warped onto the image (features/register.py: the camera's shift, roll and distance undone), then
# the gain match, and the unit space the mean of registered references; or `register-tones` -- registered,
# then each channel's tone curve matched (the reference's quantiles mapped onto the image's): a monotone
# curve follows what one gain cannot, such as highlights clipping on a brighter line while the dark
# housing barely moves; or `register-image` -- the other way round, the image warped onto the reference
# and then the gain match: the model sees every part in the reference's pixels, the pins where they
# always are (what is drawn on the image, such as its defect box, has to move with it).
ALIGNMENTS = ("none", "gain", "register", "register-tones", "register-image")
TONE_QUANTILES = np.linspace(0.0, 1.0, 129)  # 128 steps: finer than 8-bit levels where it matters


def matched_reference(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per image and channel a * x + b closest to y (least squares). y (N, H, W, 3); x (N or 1, H, W, 3).

    Per image, the sums and second moments over the pixels in float64 (exact to ~1e-7; float32 sums
    over 80k pixels drift by ~1e-4): the sums as one matrix-vector product and the moments as einsum
    over float64 copies, 2.7x faster than einsum casting float32 on the fly (0.65 against 1.7 ms an
    image at 288 x 96), which mattered on predict's reader thread."""
    n, h, w, c = y.shape
    pixels = h * w
    flat_y = y.reshape(n, pixels, c)
    flat_x = np.ascontiguousarray(x.reshape((-1, h, w, c))).reshape(-1, pixels, c)
    out = np.empty((n, pixels, c), dtype=np.float32)
    ones = np.ones(pixels)
    for i in range(n):
        x32 = flat_x[i if len(flat_x) > 1 else 0]
        a, b = x32.astype(np.float64), flat_y[i].astype(np.float64)
        mean_a, mean_b = (ones @ a) / pixels, (ones @ b) / pixels
        var = np.einsum("pc,pc->c", a, a) / pixels - mean_a * mean_a
        cov = np.einsum("pc,pc->c", a, b) / pixels - mean_a * mean_b
        gain = cov / np.maximum(var, 1e-8)
        np.multiply(x32, gain.astype(np.float32), out=out[i])
        out[i] += (mean_b - gain * mean_a).astype(np.float32)
    return out.reshape(y.shape)


def tone_matched_reference(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per image and channel x mapped through the monotone curve taking its quantiles onto y's."""
    x = np.broadcast_to(x, y.shape)
    out = np.empty(y.shape, dtype=np.float32)
    # a tiny ramp keeps the reference's quantiles strictly increasing (np.interp needs it on flat stretches)
    ramp = np.arange(len(TONE_QUANTILES)) * 1e-7
    for i in range(len(y)):
        for c in range(y.shape[3]):
            source = np.maximum.accumulate(np.quantile(x[i, ..., c], TONE_QUANTILES) + ramp)
            out[i, ..., c] = np.interp(x[i, ..., c], source, np.quantile(y[i, ..., c], TONE_QUANTILES))
    return out


def image_on_reference(mode: str, align: str) -> bool:
    """Whether the model sees each image warped onto its reference (`register-image` differences): its
    input is then in the reference's pixels, not the image's (boxes, masks and maps have to move)."""
    return align == "register-image" and mode in ("diff", "rgb-diff")


def aligned(y: np.ndarray, x: np.ndarray, align: str, warps=None) -> tuple[np.ndarray, np.ndarray]:
    """Images y (N, H, W, 3) and references x (N or 1, H, W, 3) matched by `align` (not none): (y, x);
    `warps`: for register-image, the images' warps onto their references when they are known already."""
    if align == "register-image":
        y, seen = images_onto(x, y, warps)
        x = matched_reference(y, x)
        # where the camera saw nothing of the reference's frame there is nothing to compare: no difference
        return np.where(seen, y, x), x
    x = registered_references(y, x) if align.startswith("register") else x
    return y, tone_matched_reference(y, x) if align == "register-tones" else matched_reference(y, x)


def input_channels(mode: str, soart3: Soart3Options, in_channels: int = 3) -> int:
    if mode == "soart3":
        return soart3.out_channels(in_channels)
    return 2 * in_channels if mode == "rgb-diff" else in_channels


def to_float(images_u8: np.ndarray) -> np.ndarray:
    return images_u8.astype(np.float32) * (1.0 / 255.0)


def compute_inputs(
    images_u8: np.ndarray,
    reference: np.ndarray | None,
    mode: str,
    soart3: Soart3Options = Soart3Options(),
    chunk: int = 64,
    align: str = "none",
    warps: np.ndarray | None = None,
) -> np.ndarray:
    """(N, H, W, 3) uint8 renders (+ reference, float in [0, 1], (N, H, W, 3) or (H, W, 3)) -> (N, C, H, W) float32.

    Works in chunks so the float64 SOART3 intermediates stay small. `align` (ALIGNMENTS) matches the
    reference to each image before diff / rgb-diff; `warps` (N, 2, 3): register-image's warps, when known.
    """
    n, h, w, _ = images_u8.shape
    out = np.empty((n, input_channels(mode, soart3), h, w), dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        y = to_float(np.asarray(images_u8[start:stop]))
        if mode == "rgb":
            out[start:stop] = y.transpose(0, 3, 1, 2)
            continue
        x = reference if reference.ndim == 3 else reference[start:stop]
        if align != "none" and mode in ("diff", "rgb-diff"):
            known = None if warps is None else warps[start:stop]
            y, x = aligned(y, x[None] if x.ndim == 3 else x, align, known)
        if mode == "diff":
            out[start:stop] = (y - x).transpose(0, 3, 1, 2)
        elif mode == "rgb-diff":
            out[start:stop, :3] = y.transpose(0, 3, 1, 2)
            out[start:stop, 3:] = (y - x).transpose(0, 3, 1, 2)
        else:
            maps = soart3_maps(x, y, soart3)
            out[start:stop] = upsample_to(maps, h, w, soart3.region)
    return out


def view_means(images_u8: np.ndarray, views: list[str], register: bool = False) -> dict[str, np.ndarray]:
    """Per-view mean of (N, H, W, 3) uint8 images as float32 (H, W, 3) in [0, 1]: the unit space
    (with `register`, the mean of the images registered to it: sharp where jitter blurred it)."""
    means = {}
    for view in sorted(set(views)):
        idx = [i for i, v in enumerate(views) if v == view]
        images = np.asarray(images_u8)[idx].astype(np.float32)
        means[view] = registered_mean(images / 255.0) if register else images.mean(axis=0) / 255.0
    return means


def fit_normalisation(inputs: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of (N, C, H, W) training inputs (std floored so flat channels stay finite)."""
    mean = inputs.mean(axis=(0, 2, 3), dtype=np.float64)
    std = inputs.std(axis=(0, 2, 3), dtype=np.float64)
    std = np.maximum(std, 1e-6)
    return [float(v) for v in mean], [float(v) for v in std]


def normalise(inputs: np.ndarray, mean, std) -> np.ndarray:
    m = np.asarray(mean, dtype=np.float32)[None, :, None, None]
    s = np.asarray(std, dtype=np.float32)[None, :, None, None]
    inputs -= m
    inputs /= s
    return inputs
