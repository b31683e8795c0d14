"""Sensor effects applied to a rendered image after rendering (pure numpy): what a real camera adds.

In order, on the image's display-encoded 0..1 values (an 8-bit PNG's): to linear light (sRGB), exposure
(x 2^EV: gain or shutter), vignetting (brightness falls by `vignetting` toward the corners, cos^4-like),
back to display values, a slight defocus blur (Gaussian, sigma in pixels), shot noise (photon noise:
sigma = shot_noise x sqrt(level) in 8-bit levels) and read noise (Gaussian, sigma in levels), then the
8-bit quantisation the PNG does anyway. The noise comes from the shot's noise seed, so a sample and its
defect-free twin get the same noise: their difference stays the defect's. Masks and boxes come from
geometry and are not touched.
"""

from __future__ import annotations

import numpy as np

KEYS = ("exposure", "vignetting", "blur", "shot_noise", "read_noise")


def to_linear(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def to_display(v):
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def vignette(height: int, width: int, strength: float):
    """Brightness factor per pixel: 1 at the centre, 1 - strength at the corners (smooth, radial)."""
    y = (np.arange(height) + 0.5 - height / 2.0) / (height / 2.0)
    x = (np.arange(width) + 0.5 - width / 2.0) / (width / 2.0)
    r2 = (x[None, :] ** 2 + y[:, None] ** 2) / 2.0  # 0 at the centre, 1 at a corner
    return 1.0 - strength * r2**2 * (3.0 - 2.0 * r2)  # smoothstep-shaped fall-off


def gaussian_blur(image, sigma: float):
    """Separable Gaussian blur with mirrored borders (sigma in pixels; nothing below 0.05)."""
    if sigma < 0.05:
        return image
    radius = max(1, int(np.ceil(3.0 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    out = image
    for axis in (0, 1):
        pad = [(0, 0)] * image.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect")
        size = out.shape[axis]
        out = sum(
            w * np.take(padded, np.arange(size) + radius + o, axis=axis) for w, o in zip(kernel, offsets, strict=True)
        )
    return out


def apply(pixels, jitter: dict):
    """The image (H, W, C>=3 floats 0..1, any row order) as the shot's sensor records it; alpha kept."""
    out = np.array(pixels, dtype=np.float64, copy=True)
    rgb = out[..., :3]
    height, width = rgb.shape[:2]
    linear = to_linear(rgb) * 2.0 ** jitter.get("exposure", 0.0)
    if jitter.get("vignetting", 0.0) > 0:
        linear *= vignette(height, width, jitter["vignetting"])[..., None]
    rgb = gaussian_blur(to_display(linear), jitter.get("blur", 0.0))
    rng = np.random.default_rng(int(jitter.get("noise_seed", 0)))
    levels = rgb * 255.0
    shot, read = jitter.get("shot_noise", 0.0), jitter.get("read_noise", 0.0)
    noise = rng.standard_normal(levels.shape)
    levels = levels + noise * np.sqrt(shot**2 * np.maximum(levels, 0.0) + read**2)
    out[..., :3] = np.clip(np.round(levels), 0.0, 255.0) / 255.0
    return out


def wanted(jitter: dict) -> bool:
    """Does this shot have any sensor effect to apply?"""
    return any(key in jitter for key in KEYS)
