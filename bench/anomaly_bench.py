"""OK-only anomaly detection, measured and chosen (not a test): the unit space against a PatchCore-style
memory bank, side by side on one dataset, plus the unit space's settings scored on the validation split.

    .venvs/trainer/bin/python bench/anomaly_bench.py --data data/default [--no-knn]

Both methods see only the train split's OK renders. The memory bank keeps every 8 x 8 patch (stride 4)
of those renders (gain-normalised RGB, no learned backbone) and scores a test patch by its distance to
the nearest stored patch of the same view within one patch position -- PatchCore's nearest-neighbour
scoring with the alignment the fixed cameras give. Prints image AUROC, pixel AUROC, AUPRO and seconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from pinscope_trainer.anomaly.metrics import anomaly_metrics
from pinscope_trainer.anomaly.run import defect_masks
from pinscope_trainer.anomaly.unit_space import UnitSpace, UnitSpaceOptions, blur
from pinscope_trainer.data import PinDataset

PATCH, STRIDE, WINDOW = 8, 4, 1


def patches(images_u8: np.ndarray, brightness: float) -> torch.Tensor:
    """(N, h, w, D) gain-normalised patches of (N, H, W, 3) renders."""
    x = torch.from_numpy(images_u8.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    x = x * (brightness / x.mean((1, 2, 3), keepdim=True))
    h, w = (x.shape[2] - PATCH) // STRIDE + 1, (x.shape[3] - PATCH) // STRIDE + 1
    return torch.nn.functional.unfold(x, PATCH, stride=STRIDE).transpose(1, 2).reshape(len(x), h, w, -1)


def knn_maps(train_u8, train_views, test_u8, test_views) -> tuple[np.ndarray, np.ndarray]:
    """Image scores and (N, H, W) maps of the memory bank (nearest patch within WINDOW positions)."""
    size = test_u8.shape[1:3]
    grid = None
    for view in sorted(set(test_views)):
        bank_u8 = train_u8[np.asarray(train_views) == view]
        brightness = float(bank_u8.mean() / 255.0)
        bank, rows = patches(bank_u8, brightness), np.flatnonzero(np.asarray(test_views) == view)
        query = patches(test_u8[rows], brightness)
        n, h, w, d = bank.shape
        padded = torch.nn.functional.pad(bank.permute(0, 3, 1, 2), (WINDOW,) * 4, mode="replicate")
        k = 2 * WINDOW + 1
        shifted = torch.cat([padded[:, :, dy : dy + h, dx : dx + w] for dy in range(k) for dx in range(k)])
        memory = shifted.permute(2, 3, 0, 1).reshape(h * w, -1, d)
        q = query.permute(1, 2, 0, 3).reshape(h * w, len(rows), d)
        dist = torch.cat([torch.cdist(q[i : i + 64], memory[i : i + 64]).min(-1).values for i in range(0, h * w, 64)])
        if grid is None:
            grid = torch.zeros(len(test_u8), 1, h, w)
        grid[rows, 0] = dist.T.reshape(len(rows), h, w)
    maps = torch.nn.functional.interpolate(grid, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()
    return grid.reshape(len(grid), -1).max(1).values.numpy(), blur(maps, 2.0)


def unit_space(ds, opts, train_u8, train_views, split):
    model = UnitSpace.fit(train_u8, train_views, opts)
    rows = ds.rows(split)
    return model.score(np.asarray(ds.renders(split, ds.render_size)), [r.view for r in rows])


def score(ds, split, scores, maps) -> dict:
    is_defect = [r.label not in ds.ok_labels for r in ds.rows(split)]
    return {k: round(v, 4) for k, v in anomaly_metrics(scores, is_defect, maps, defect_masks(ds, split)).items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/default")
    p.add_argument("--cache-dir")
    p.add_argument("--no-knn", action="store_true", help="skip the memory bank (about a minute on 2 cores)")
    args = p.parse_args()
    ds = PinDataset(args.data, cache_dir=args.cache_dir)
    train_rows = ds.rows("train")
    ok = [i for i, r in enumerate(train_rows) if r.label in ds.ok_labels]
    train_u8 = np.asarray(ds.renders("train", ds.render_size))[ok]
    train_views = [train_rows[i].view for i in ok]
    print(
        f"{len(ok)} OK train renders, 0 defect samples; "
        f"validation {len(ds.rows('validation'))}, test {len(ds.rows('test'))}"
    )
    print("\nunit space settings on the validation split (image AUROC, pixel AUROC, AUPRO):")
    for b in (0.0, 1.0, 2.0):
        for s in (1.0, 2.0, 3.0):
            opts = UnitSpaceOptions(blur=b, smooth=s)
            scored = unit_space(ds, opts, train_u8, train_views, "validation")
            print(f"  blur {b} smooth {s}: {score(ds, 'validation', *scored)}")
    print("\ntest split, side by side:")
    start = time.perf_counter()
    test_scores = unit_space(ds, UnitSpaceOptions(), train_u8, train_views, "test")
    unit_seconds = time.perf_counter() - start
    print(
        f"  unit space (defaults {UnitSpaceOptions().to_dict()}): "
        f"{score(ds, 'test', *test_scores)}, {unit_seconds:.1f} s"
    )
    if not args.no_knn:
        start = time.perf_counter()
        test_u8 = np.asarray(ds.renders("test", ds.render_size))
        knn = knn_maps(train_u8, train_views, test_u8, [r.view for r in ds.rows("test")])
        knn_seconds = time.perf_counter() - start
        print(
            f"  memory bank ({PATCH}x{PATCH} patches, stride {STRIDE}, window {WINDOW}): {score(ds, 'test', *knn)}, "
            f"{knn_seconds:.1f} s ({knn_seconds / unit_seconds:.0f}x the unit space's time)"
        )


if __name__ == "__main__":
    main()
