"""SOART3 metric images (../shared/docs/METHOD.md §3), fully vectorised with numpy.

For each region of a regular grid the reference vector x (the defect-free twin, or the unit-space
mean) and the test vector y (the sample) give

    beta = (x.y + 1e-4) / (x.x + 1e-4)
    Y1   = log beta                              brightness ("rotation") term
    Y2   = log(1 + mean |y - beta x|)            Manhattan term
    Y3   = 1/2 log(1 + mean (y - beta x)^2) - Y2 Euclidean term relative to Manhattan

and the three numbers become three channels of a metric image (one pixel per region).

Choices PinScope makes where the blog published none (all are options, see docs/soart3.md):
- `region` (pixels per region side, default 4): the vector of a region is built from its pixels.
- `basis`: "raw" uses the pixels themselves; "kernels" cuts the region into `tile` x `tile` tiles
  and reduces each tile to 7 numbers with a fixed bank (datum, two lines, four bends), as ATTNS12
  did with its unpublished bank. Kernel responses may be negative, so beta can be <= 0; Y1 then
  uses log(max(beta, 1e-6)) (documented clamp, exact for y = c x with c > 0).
- `channels`: "concat" joins the colour channels into one vector (3 output channels, as the blog);
  "per" computes Y1..Y3 per colour channel (3 x C output channels, ordered Y1[c...], Y2[c...], Y3[c...]).
- Pixels beyond the last whole region (H or W not a multiple of `region`) are ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import UsageError

EPS = 1e-4
BETA_FLOOR = 1e-6
BASES = ("raw", "kernels")
CHANNEL_MODES = ("concat", "per")


@dataclass(frozen=True)
class Soart3Options:
    region: int = 4
    tile: int = 2
    basis: str = "raw"
    channels: str = "concat"

    def check(self) -> None:
        if self.region < 1:
            raise UsageError("--soart3-region", f"must be >= 1, got {self.region}")
        if self.basis not in BASES:
            raise UsageError("--soart3-basis", f"must be one of {', '.join(BASES)}, got {self.basis!r}")
        if self.channels not in CHANNEL_MODES:
            raise UsageError("--soart3-channels", f"must be one of {', '.join(CHANNEL_MODES)}, got {self.channels!r}")
        if self.basis == "kernels" and (self.tile < 2 or self.region % self.tile):
            raise UsageError(
                "--soart3-tile", f"must be >= 2 and divide --soart3-region ({self.region}), got {self.tile}"
            )

    def out_channels(self, in_channels: int = 3) -> int:
        return 3 if self.channels == "concat" else 3 * in_channels

    def to_dict(self) -> dict:
        return asdict(self)


def kernel_bank(tile: int) -> np.ndarray:
    """Seven fixed tile x tile kernels (datum, line x, line y, bend x, bend y, bend xy, saddle), unit norm."""
    u = np.linspace(-1.0, 1.0, tile)
    yy, xx = np.meshgrid(u, u, indexing="ij")
    kernels = [
        np.ones_like(xx),  # datum: the tile's brightness
        xx,  # line along x
        yy,  # line along y
        xx**2 - (xx**2).mean(),  # bend along x
        yy**2 - (yy**2).mean(),  # bend along y
        xx * yy,  # bend across the diagonal
        (xx**2 - (xx**2).mean()) * (yy**2 - (yy**2).mean()) + 0.5 * (np.abs(xx) - np.abs(yy)),  # saddle
    ]
    bank = np.stack(kernels).astype(np.float64)
    norms = np.linalg.norm(bank.reshape(7, -1), axis=1)
    norms[norms == 0] = 1.0
    return (bank / norms[:, None, None]).astype(np.float32)


def region_vectors(images: np.ndarray, opts: Soart3Options) -> np.ndarray:
    """(N, H, W, C) float -> (N, Ry, Rx, C, D): one D-long vector per region and colour channel."""
    n, h, w, c = images.shape
    r = opts.region
    ry, rx = h // r, w // r
    blocks = images[:, : ry * r, : rx * r, :].reshape(n, ry, r, rx, r, c).transpose(0, 1, 3, 5, 2, 4)
    if opts.basis == "raw":
        return blocks.reshape(n, ry, rx, c, r * r)
    t = opts.tile
    k = r // t
    tiles = blocks.reshape(n, ry, rx, c, k, t, k, t).transpose(0, 1, 2, 3, 4, 6, 5, 7)
    responses = np.einsum("...ij,kij->...k", tiles, kernel_bank(t))  # (n, ry, rx, c, k, k, 7)
    return responses.reshape(n, ry, rx, c, k * k * 7)


def metrics(x: np.ndarray, y: np.ndarray, axis=-1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y1, Y2, Y3 between reference vectors x and test vectors y, reducing over `axis`."""
    x = x.astype(np.float64, copy=False)
    y = y.astype(np.float64, copy=False)
    beta = ((x * y).sum(axis=axis) + EPS) / ((x * x).sum(axis=axis) + EPS)
    resid = y - np.expand_dims(beta, axis) * x
    y1 = np.log(np.maximum(beta, BETA_FLOOR))
    y2 = np.log1p(np.abs(resid).mean(axis=axis))
    y3 = 0.5 * np.log1p((resid**2).mean(axis=axis)) - y2
    return y1, y2, y3


def soart3_maps(reference: np.ndarray, sample: np.ndarray, opts: Soart3Options = Soart3Options()) -> np.ndarray:
    """Metric images for a batch: (N, H, W, C) floats in [0, 1] -> (N, K, H // region, W // region) float32.

    `reference` may be (N, H, W, C) (one per sample, e.g. twins) or (H, W, C) (one for all, broadcast).
    K = 3 for channels="concat", 3 * C for "per".
    """
    sample = np.asarray(sample, dtype=np.float32)
    if sample.ndim == 3:
        sample = sample[None]
    reference = np.asarray(reference, dtype=np.float32)
    if reference.ndim == 3:
        reference = reference[None]
    xv = region_vectors(reference, opts)
    yv = region_vectors(sample, opts)
    if xv.shape[0] == 1 and yv.shape[0] > 1:
        xv = np.broadcast_to(xv, yv.shape)
    if opts.channels == "concat":
        n, ry, rx, c, d = yv.shape
        y1, y2, y3 = metrics(xv.reshape(n, ry, rx, c * d), yv.reshape(n, ry, rx, c * d))
        out = np.stack([y1, y2, y3], axis=1)  # (n, 3, ry, rx)
    else:
        y1, y2, y3 = metrics(xv, yv)  # each (n, ry, rx, c)
        out = np.concatenate([m.transpose(0, 3, 1, 2) for m in (y1, y2, y3)], axis=1)
    return out.astype(np.float32)


def upsample_to(maps: np.ndarray, height: int, width: int, region: int) -> np.ndarray:
    """Repeat each metric pixel region x region times and zero-pad to (height, width).

    Keeps the metric image aligned with the render, so the same ViT (image size, patch grid) and the
    same pin boxes serve every input mode.
    """
    up = maps.repeat(region, axis=-2).repeat(region, axis=-1)
    out = np.zeros((*maps.shape[:-2], height, width), dtype=maps.dtype)
    out[..., : up.shape[-2], : up.shape[-1]] = up
    return out
