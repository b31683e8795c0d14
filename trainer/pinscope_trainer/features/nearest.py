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


class NearestBank:
    """A line's reference renders, ready to choose from: their tone descriptors are computed once, and
    the mean of each chosen set is kept (predict asks batch after batch; many images share a set)."""

    def __init__(self, bank_u8: np.ndarray, bank_views: list, k: int, register: bool):
        self.images = np.asarray(bank_u8)
        self.views = np.asarray(bank_views)
        self.k, self.register = k, register
        self.descriptors = tone_descriptors(self.images)
        self.means: dict[tuple, np.ndarray] = {}

    def mean_of(self, chosen: tuple) -> np.ndarray:
        if chosen not in self.means:
            stack = self.images[list(chosen)].astype(np.float32) / 255.0
            self.means[chosen] = registered_mean(stack) if self.register and len(stack) > 1 else stack.mean(axis=0)
        return self.means[chosen]

    def references(self, images_u8: np.ndarray, views: list) -> np.ndarray:
        """(N, H, W, 3) float32 in [0, 1]: per image, the mean of the k references of its view nearest in
        tone. Raises KeyError naming a view the bank has no references for."""
        out = np.empty(np.shape(images_u8), dtype=np.float32)
        wanted = tone_descriptors(images_u8)
        for view in sorted(set(views)):
            rows = [i for i, v in enumerate(views) if v == view]
            own = np.flatnonzero(self.views == view)
            if len(own) == 0:
                raise KeyError(view)
            for i, pick in zip(rows, nearest_choice(wanted[rows], self.descriptors[own], self.k), strict=True):
                out[i] = self.mean_of(tuple(int(own[j]) for j in pick))
        return out


def nearest_references(
    images_u8: np.ndarray, views: list, bank_u8: np.ndarray, bank_views: list, k: int, register: bool
) -> np.ndarray:
    """NearestBank(bank_u8, bank_views, k, register).references(images_u8, views), for one call."""
    return NearestBank(bank_u8, bank_views, k, register).references(images_u8, views)
