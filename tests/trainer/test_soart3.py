"""SOART3: vectorised module vs a straightforward loop, and known cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pinscope_trainer.errors import UsageError
from pinscope_trainer.features.soart3 import EPS, Soart3Options, kernel_bank, soart3_maps, upsample_to


def loop_soart3(x, y, opts):
    """Reference implementation: one region, one channel group at a time, plain Python sums."""
    h, w, c = y.shape
    r = opts.region
    groups = [list(range(c))] if opts.channels == "concat" else [[ch] for ch in range(c)]
    out = np.zeros((3 * len(groups), h // r, w // r))
    bank = kernel_bank(opts.tile) if opts.basis == "kernels" else None
    for i in range(h // r):
        for j in range(w // r):
            for g, chans in enumerate(groups):
                xs, ys = [], []
                for ch in chans:
                    bx = x[i * r : (i + 1) * r, j * r : (j + 1) * r, ch]
                    by = y[i * r : (i + 1) * r, j * r : (j + 1) * r, ch]
                    if bank is None:
                        xs += list(bx.ravel())
                        ys += list(by.ravel())
                        continue
                    t = opts.tile
                    for ti in range(r // t):
                        for tj in range(r // t):
                            tx = bx[ti * t : (ti + 1) * t, tj * t : (tj + 1) * t]
                            ty = by[ti * t : (ti + 1) * t, tj * t : (tj + 1) * t]
                            xs += [float((tx * k).sum()) for k in bank]
                            ys += [float((ty * k).sum()) for k in bank]
                beta = (sum(a * b for a, b in zip(xs, ys, strict=True)) + EPS) / (sum(a * a for a in xs) + EPS)
                resid = [b - beta * a for a, b in zip(xs, ys, strict=True)]
                y1 = math.log(max(beta, 1e-6))
                y2 = math.log(1 + sum(abs(e) for e in resid) / len(resid))
                y3 = 0.5 * math.log(1 + sum(e * e for e in resid) / len(resid)) - y2
                n = len(groups)
                out[g, i, j], out[n + g, i, j], out[2 * n + g, i, j] = y1, y2, y3
    return out


@pytest.mark.parametrize(
    "opts",
    [
        Soart3Options(region=4, basis="raw", channels="concat"),
        Soart3Options(region=3, basis="raw", channels="per"),
        Soart3Options(region=4, tile=2, basis="kernels", channels="concat"),
        Soart3Options(region=4, tile=2, basis="kernels", channels="per"),
    ],
)
def test_vectorised_matches_loop(opts):
    rng = np.random.default_rng(3)
    x = rng.random((13, 18, 3)).astype(np.float32)  # not a multiple of the region: tails are ignored
    y = (x * 0.8 + 0.2 * rng.random((13, 18, 3))).astype(np.float32)
    fast = soart3_maps(x, y, opts)[0]
    slow = loop_soart3(x.astype(np.float64), y.astype(np.float64), opts)
    assert fast.shape == slow.shape
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-5)


def test_known_case_scaled_copy():
    """y = 2x: beta = 2, so Y1 = log 2 and the residual terms vanish."""
    x = np.random.default_rng(0).uniform(0.2, 0.5, (8, 8, 3)).astype(np.float32)
    maps = soart3_maps(x, 2 * x, Soart3Options(region=4))
    np.testing.assert_allclose(maps[0, 0], math.log(2), atol=1e-4)
    np.testing.assert_allclose(maps[0, 1:], 0.0, atol=1e-5)


def test_identical_images_give_zero_and_a_defect_lights_its_region():
    x = np.full((8, 16, 3), 0.4, dtype=np.float32)
    y = x.copy()
    y[0:4, 8:12] = 0.9  # one region changes
    maps = soart3_maps(x, y, Soart3Options(region=4))[0]
    changed = np.zeros((2, 4), dtype=bool)
    changed[0, 2] = True
    assert np.all(np.abs(maps[:, ~changed]) < 1e-5)
    assert maps[0, 0, 2] > 0.5  # brighter: log beta > 0


def test_batch_with_one_shared_reference_and_upsampling():
    rng = np.random.default_rng(1)
    ref = rng.random((8, 12, 3)).astype(np.float32)
    batch = rng.random((5, 8, 12, 3)).astype(np.float32)
    maps = soart3_maps(ref, batch, Soart3Options(region=4, channels="per"))
    assert maps.shape == (5, 9, 2, 3)
    np.testing.assert_allclose(maps[2], soart3_maps(ref, batch[2], Soart3Options(region=4, channels="per"))[0])
    up = upsample_to(maps, 10, 13, 4)
    assert up.shape == (5, 9, 10, 13)
    assert np.all(up[..., 8:, :] == 0) and np.all(up[..., :, 12:] == 0)
    assert up[1, 0, 5, 6] == maps[1, 0, 1, 1]


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="--soart3-basis"):
        Soart3Options(basis="wavelet").check()
    with pytest.raises(UsageError, match="--soart3-tile"):
        Soart3Options(region=4, tile=3, basis="kernels").check()
