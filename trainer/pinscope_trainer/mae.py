"""Self-supervised pretraining with Hugging Face `ViTMAEForPreTraining` on unlabelled renders.

    python -m pinscope_trainer.cli pretrain-mae --data DIR --out MAEDIR [--epochs 10]
    python -m pinscope_trainer.cli train --data DIR --out RUN --init MAEDIR ...

ViTMAE's fixed sin-cos position table only fits square images (METHOD.md §5), so each render is cut into
square crops (a 96x288 render gives three 96x96 crops) and the encoder learns on those. The images are the
training split and the reference/ renders (labels unused; validation and test are never seen). `--init`
then copies the encoder (patch embedding, layers, final norm) into the classification ViT of the run's
non-square size; its position embeddings start as the 2-D sin-cos table of that grid.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UsageError
from .models import PRESETS
from .options import Options, check_output_folder, option


def square_crops(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N * k, C, s, s) with s = min(H, W), crops side by side (the last one flush right)."""
    n, c, h, w = images.shape
    s = min(h, w)
    if h >= w:
        starts = sorted({*range(0, h - s + 1, s), h - s})
        return np.concatenate([images[:, :, y : y + s, :] for y in starts])
    starts = sorted({*range(0, w - s + 1, s), w - s})
    return np.concatenate([images[:, :, :, x : x + s] for x in starts])


def sincos_2d(hidden: int, grid_h: int, grid_w: int) -> np.ndarray:
    """(1 + gh * gw, hidden) 2-D sin-cos position table, CLS row zero (as MAE builds it)."""

    def one_axis(dim, positions):
        omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
        out = np.outer(positions.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    gy, gx = np.meshgrid(np.arange(grid_h, dtype=np.float64), np.arange(grid_w, dtype=np.float64), indexing="ij")
    table = np.concatenate([one_axis(hidden // 2, gy), one_axis(hidden // 2, gx)], axis=1)
    return np.concatenate([np.zeros((1, hidden)), table]).astype(np.float32)


@dataclass(frozen=True)
class MaeOptions(Options):
    """`pretrain-mae`: self-supervised ViTMAE pretraining on unlabelled renders (for `train --init`)."""

    data: str = option(help="dataset folder (train split + reference/ renders are used)", required=True)
    out: str = option(help="folder for config.json + model.safetensors", required=True)
    preset: str = option("tiny", "ViT size of the encoder", choices=tuple(PRESETS))
    patch: int = option(16, "patch size (must divide the square crop side)", at_least=1)
    epochs: int = option(10, "epochs of pretraining", at_least=1)
    batch_size: int = option(64, "crops per step", at_least=1)
    lr: float = option(1e-3, "peak learning rate (AdamW)", above=0)
    mask_ratio: float = option(0.75, "share of the patches hidden from the encoder", above=0, below=1)
    seed: int = option(0, "seed of the init and the crop order", at_least=0)
    bf16: bool = option(False, "bfloat16 autocast")
    cache_dir: str | None = option(None, "decoded-image cache (default $PINSCOPE_CACHE or ~/.cache/pinscope/trainer)")
    quiet: bool = option(False, "no progress output")

    def check(self) -> None:
        if not str(self.data).strip():
            raise UsageError("--data", "must name a dataset folder, got ''")
        check_output_folder("--out", self.out)
        check_output_folder("--cache-dir", self.cache_dir)


def pretrain(opts: MaeOptions) -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from safetensors.torch import save_file
    from transformers import ViTMAEConfig, ViTMAEForPreTraining

    from .data import PinDataset, Preprocess
    from .features.inputs import compute_inputs, fit_normalisation, normalise
    from .train import lr_lambda

    preset, patch, epochs, batch_size, bf16 = opts.preset, opts.patch, opts.epochs, opts.batch_size, opts.bf16
    cache_dir = opts.cache_dir
    ds = PinDataset(opts.data, cache_dir=cache_dir)
    size = ds.render_size
    pre = Preprocess(labels=ds.vocabulary("label"), input_mode="rgb", image_size=size)
    images = compute_inputs(np.asarray(ds.renders("train", size)), None, "rgb")
    if ds.reference_rows:
        from .cache import decoded_images

        ref = ds.root / "reference"
        rows = ds.reference_rows
        refs = decoded_images(
            [ref / r.file_name for r in rows],
            [r.sha256.get("image") for r in rows],
            [f"reference/{r.file_name}" for r in rows],
            size,
            cache_dir,
        )
        images = np.concatenate([images, compute_inputs(np.asarray(refs), None, "rgb")])
    pre.mean, pre.std = fit_normalisation(images)
    crops = torch.from_numpy(square_crops(normalise(images, pre.mean, pre.std)))
    side = crops.shape[-1]
    if side % patch:
        raise UsageError("--patch", f"must divide the square crop side {side}, got {patch}")
    hidden, layers, heads, mlp = PRESETS[preset]
    config = ViTMAEConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=mlp,
        image_size=side,
        patch_size=patch,
        num_channels=3,
        decoder_hidden_size=max(32, hidden // 2),
        decoder_num_hidden_layers=2,
        decoder_num_attention_heads=max(1, heads),
        decoder_intermediate_size=2 * hidden,
        mask_ratio=opts.mask_ratio,
        norm_pix_loss=True,
    )
    torch.manual_seed(opts.seed)
    model = ViTMAEForPreTraining(config)
    steps = math.ceil(len(crops) / batch_size) * epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=0.05, betas=(0.9, 0.95))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(steps, max(1, steps // 10)))
    gen = torch.Generator().manual_seed(opts.seed)
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(crops), generator=gen)
        total = 0.0
        for start in range(0, len(crops), batch_size):
            idx = order[start : start + batch_size]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(pixel_values=crops[idx]).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(idx)
        if not opts.quiet:
            print(
                f"mae epoch {epoch}/{epochs}: reconstruction loss {total / len(crops):.4f}", file=sys.stderr, flush=True
            )
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str) + "\n")
    (out / "preprocess.json").write_text(
        json.dumps(
            {**pre.to_info(), "crops": side, "images": len(images), "epochs": epochs, "final_loss": total / len(crops)},
            indent=2,
        )
    )
    print(
        f"{out}: ViTMAE {preset} patch {patch} on {len(crops)} crops of {side}px, {epochs} epochs, "
        f"loss {total / len(crops):.4f}",
        flush=True,
    )
    return out
