"""The unit space of the QEU/MT method, per pixel: how far a render lies from the OK renders of its view.

Fit: for every camera view, the OK renders (slightly blurred: a half-pixel edge shift is then a smooth
change, not aliasing noise) are moved, channel by channel, to the view's mean brightness (the
lights' level, colour and ambient are a gain and an offset, not a defect), and each pixel gets the mean and the 3 x 3
covariance of its RGB values. Score: a pixel's Mahalanobis distance to its mean under that covariance
(plus a small floor `eps` so a pixel that never varies does not divide by zero) -- the MT distance,
one pixel at a time. The map is smoothed (a defect covers many neighbouring pixels, noise does not);
the image score is the map's maximum.
With `register` (the default) every render is first warped onto its view's plain OK mean by an affine
ECC warp (features/register.py): a line whose camera shifts, rolls and moves a little (the default
spec draws that per shot) would otherwise light up every pin edge.

Measured against a PatchCore-style memory bank (nearest OK patch within a one-patch window) on the
default dataset: see docs/results.md. Everything here is deterministic: no random choice at all.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import cv2
import numpy as np
from pinscope_schema import atomic_file

from ..features.register import onto

CHUNK = 64  # renders per step: memory stays flat however many OK renders a view has


@dataclass(frozen=True)
class UnitSpaceOptions:
    blur: float = 1.0  # Gaussian sigma (pixels) on renders before the statistics
    smooth: float = 4.0  # sigma of the pixel map (chosen on the validation split: docs/results.md)
    image_smooth: float = 1.0  # sigma of the map whose maximum is the image score (keeps a small peak)
    eps: float = 0.01  # floor of each pixel's standard deviation (in units where a channel spreads SPREAD)
    register: bool = True  # warp each render onto its view's plain OK mean before statistics and scores

    def to_dict(self) -> dict:
        return asdict(self)


def blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of (N, H, W[, C]) float32 images, one image at a time (OpenCV)."""
    if sigma <= 0:
        return images
    return np.stack([cv2.GaussianBlur(x, (0, 0), sigma) for x in images])


def _prepared(images_u8: np.ndarray, opts: UnitSpaceOptions) -> np.ndarray:
    return blur(images_u8.astype(np.float32) / 255.0, opts.blur)


# Each channel of a render is standardised and placed at the view's mean brightness with this spread:
# the level, the colour and the ambient light of a shot then are not anomalies (eps counts in these units).
SPREAD = 0.1


def _gain(images: np.ndarray, brightness: float) -> np.ndarray:
    """Each colour channel of each image moved to the view's mean brightness with a fixed spread: a gain
    and an offset per channel, since a line's light moves in level, colour temperature and ambient (the
    default spec draws all three per shot)."""
    means = images.mean(axis=(1, 2), keepdims=True)
    spread = images.std(axis=(1, 2), keepdims=True)
    return (images - means) * (SPREAD / np.maximum(spread, 1e-6)) + brightness


@dataclass
class ViewModel:
    brightness: float
    mean: np.ndarray  # (H, W, 3) float32
    inv_cov: np.ndarray  # (H, W, 3, 3) float32
    template: np.ndarray | None = None  # (H, W, 3) float32: what renders are registered onto (None: not)


def _registered(images: np.ndarray, template: np.ndarray | None) -> np.ndarray:
    if template is None:
        return images
    return onto(template, images)


def _plain_mean(images_u8: np.ndarray, brightness: float, opts: UnitSpaceOptions) -> np.ndarray:
    total = np.zeros(images_u8.shape[1:], np.float64)
    for i in range(0, len(images_u8), CHUNK):
        total += _gain(_prepared(images_u8[i : i + CHUNK], opts), brightness).sum(0)
    return (total / len(images_u8)).astype(np.float32)


def fit_view(images_u8: np.ndarray, opts: UnitSpaceOptions) -> ViewModel:
    """Statistics of one view's OK renders (N, H, W, 3) uint8, in chunks of CHUNK renders."""
    n = len(images_u8)
    if n < 2:
        raise ValueError(f"a view needs at least 2 OK renders for its statistics, got {n}")
    brightness = float(np.mean([_prepared(images_u8[i : i + CHUNK], opts).mean() for i in range(0, n, CHUNK)]))
    template = _plain_mean(images_u8, brightness, opts) if opts.register else None
    total = np.zeros(images_u8.shape[1:], np.float64)
    outer = np.zeros((*images_u8.shape[1:], 3), np.float64)
    for i in range(0, n, CHUNK):
        x = _registered(_gain(_prepared(images_u8[i : i + CHUNK], opts), brightness), template).astype(np.float64)
        total += x.sum(0)
        outer += np.einsum("nhwc,nhwd->hwcd", x, x)
    mean = total / n
    cov = outer / n - np.einsum("hwc,hwd->hwcd", mean, mean) + (opts.eps**2) * np.eye(3)
    return ViewModel(brightness, mean.astype(np.float32), np.linalg.inv(cov).astype(np.float32), template)


def distance_maps(model: ViewModel, images_u8: np.ndarray, opts: UnitSpaceOptions) -> np.ndarray:
    """(N, H, W) float32 Mahalanobis distance of each pixel to the view's OK statistics (unsmoothed)."""
    out = np.empty(images_u8.shape[:3], np.float32)
    for i in range(0, len(images_u8), CHUNK):
        x = _gain(_prepared(images_u8[i : i + CHUNK], opts), model.brightness)
        d = _registered(x, model.template) - model.mean
        squared = np.einsum("nhwc,hwcd,nhwd->nhw", d, model.inv_cov, d, optimize=True)
        out[i : i + CHUNK] = np.sqrt(np.maximum(squared, 0.0))
    return out


class UnitSpace:
    """One ViewModel per camera view."""

    def __init__(self, views: dict[str, ViewModel], opts: UnitSpaceOptions):
        self.views, self.opts = views, opts

    @classmethod
    def fit(cls, images_u8: np.ndarray, views: list[str], opts: UnitSpaceOptions) -> UnitSpace:
        names = sorted(set(views))
        index = np.asarray(views)
        return cls({v: fit_view(images_u8[index == v], opts) for v in names}, opts)

    def score(self, images_u8: np.ndarray, views: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(image scores (N,), pixel maps (N, H, W)) for renders and their views."""
        unknown = sorted(set(views) - set(self.views))
        if unknown:
            raise KeyError(f"no OK renders of view(s) {', '.join(unknown)} in the unit space")
        raw = np.empty(images_u8.shape[:3], np.float32)
        index = np.asarray(views)
        for name, model in self.views.items():
            rows = np.flatnonzero(index == name)
            if len(rows):
                raw[rows] = distance_maps(model, images_u8[rows], self.opts)
        peaks = blur(raw, self.opts.image_smooth).reshape(len(raw), -1).max(axis=1)
        return peaks, blur(raw, self.opts.smooth)

    def save(self, path) -> None:
        arrays = {}
        for name, m in self.views.items():
            arrays.update({f"{name}/mean": m.mean, f"{name}/inv_cov": m.inv_cov, f"{name}/brightness": m.brightness})
            if m.template is not None:
                arrays[f"{name}/template"] = m.template
        with atomic_file(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike, opts: UnitSpaceOptions) -> UnitSpace:
        with np.load(path) as data:
            names = sorted({k.split("/")[0] for k in data.files})
            views = {
                n: ViewModel(
                    float(data[f"{n}/brightness"]),
                    data[f"{n}/mean"],
                    data[f"{n}/inv_cov"],
                    data[f"{n}/template"] if f"{n}/template" in data.files else None,
                )
                for n in names
            }
        return cls(views, opts)
