"""The unit space nearest in conditions: per image, the reference renders of its camera that look most
alike overall, averaged (registered to each other first).

One mean over a line's references is right when the line's conditions hold still. Where they move from
shot to shot (light level, housing colour, exposure: `randomize.*`), one mean matches none of the shots,
and a gain per channel cannot map a darker housing and brighter pins at once. An inspection system keeps
golden images of its line under its conditions; here each image is compared with the `k` references of
its view whose tones (per-channel quantiles over the whole picture: housing, pins and light alike, and
barely moved by one defective pin) are nearest to its own. Pure numpy (+ `register` for the mean).
"""

from __future__ import annotations

import numpy as np

from .register import registered_mean

QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9, 0.98)
PIXEL_STRIDE = 3  # every 3rd pixel: the quantiles of 9k pixels, not 27k, to the same 1e-3


def tone_descriptors(images_u8: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 3 * len(QUANTILES)) float32 in [0, 1]: the tone of each picture."""
    flat = np.asarray(images_u8).reshape(len(images_u8), -1, 3)[:, ::PIXEL_STRIDE]
    quantiles = np.quantile(flat, QUANTILES, axis=1)  # (Q, N, 3)
    return (quantiles.transpose(1, 0, 2).reshape(len(images_u8), -1) / 255.0).astype(np.float32)


def nearest_choice(descriptors: np.ndarray, bank: np.ndarray, k: int) -> list[tuple[int, ...]]:
    """For each descriptor, the indices into `bank` of its k nearest (sorted, so equal picks share a mean)."""
    k = min(k, len(bank))
    distances = ((descriptors[:, None, :] - bank[None, :, :]) ** 2).sum(axis=2)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return [tuple(sorted(int(i) for i in row)) for row in order]


def nearest_references(
    images_u8: np.ndarray, views: list, bank_u8: np.ndarray, bank_views: list, k: int, register: bool
) -> np.ndarray:
    """(N, H, W, 3) float32 in [0, 1]: per image, the mean of the k references of its view nearest in tone.

    Raises KeyError naming a view the bank has no references for."""
    out = np.empty(np.shape(images_u8), dtype=np.float32)
    bank_views = np.asarray(bank_views)
    wanted = tone_descriptors(images_u8)
    bank = tone_descriptors(bank_u8)
    means: dict[tuple, np.ndarray] = {}
    for view in sorted(set(views)):
        rows = [i for i, v in enumerate(views) if v == view]
        own = np.flatnonzero(bank_views == view)
        if len(own) == 0:
            raise KeyError(view)
        for i, pick in zip(rows, nearest_choice(wanted[rows], bank[own], k), strict=True):
            chosen = tuple(int(own[j]) for j in pick)
            if chosen not in means:
                stack = np.asarray(bank_u8)[list(chosen)].astype(np.float32) / 255.0
                means[chosen] = registered_mean(stack) if register and len(stack) > 1 else stack.mean(axis=0)
            out[i] = means[chosen]
    return out
