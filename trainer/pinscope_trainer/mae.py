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

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import decoded_images
from .checkpoints import save_checkpoint
from .data import PinDataset, Preprocess
from .errors import UsageError
from .features.inputs import compute_inputs, normalise
from .loop import optimiser, progress, say, step
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
        out = Path(self.out)
        # the encoder folder is replaced whole when pretraining ends: only an empty one or an earlier encoder
        if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
            raise UsageError("--out", f"{out} holds other files; name an empty folder or an earlier pretrain-mae --out")


def pretrain(opts: MaeOptions) -> Path:
    """Pretrain, then write OUT whole (config.json, model.safetensors, preprocess.json: atomic_dir)."""
    import torch
    from transformers import ViTMAEForPreTraining

    ds = PinDataset(opts.data, cache_dir=opts.cache_dir)
    side = min(ds.render_size)
    if side % opts.patch:
        raise UsageError(
            "--patch", f"must divide the square crop side {side} (the render's shorter side), got {opts.patch}"
        )
    images = unlabelled_images(ds)
    pre = Preprocess(labels=tuple(ds.vocabulary("label")), input_mode="rgb", image_size=ds.render_size).fitted(images)
    crops = torch.from_numpy(square_crops(normalise(images, pre.mean, pre.std)))
    torch.manual_seed(opts.seed)
    model = ViTMAEForPreTraining(mae_config(opts, side))
    loss = pretrain_epochs(model, crops, opts)
    info = {**pre.to_info(), "crops": side, "images": len(images), "epochs": opts.epochs, "final_loss": loss}
    out = save_checkpoint(opts.out, model, info)
    print(
        f"{out}: ViTMAE {opts.preset} patch {opts.patch} on {len(crops)} crops of {side}px, {opts.epochs} epochs, "
        f"loss {loss:.4f}",
        flush=True,
    )
    return out


def unlabelled_images(ds: PinDataset) -> np.ndarray:
    """(N, 3, H, W) rgb inputs of the training renders and the reference/ renders (labels unused)."""
    size = ds.render_size
    images = compute_inputs(np.asarray(ds.renders("train", size)), None, "rgb")
    if not ds.reference_rows:
        return images
    rows, folder = ds.reference_rows, ds.root / "reference"
    refs = decoded_images(
        [folder / r.file_name for r in rows],
        [r.sha256.get("image") for r in rows],
        [f"reference/{r.file_name}" for r in rows],
        size,
        ds.cache_dir,
    )
    return np.concatenate([images, compute_inputs(np.asarray(refs), None, "rgb")])


def mae_config(opts: MaeOptions, side: int):
    from transformers import ViTMAEConfig

    hidden, layers, heads, mlp = PRESETS[opts.preset]
    return ViTMAEConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=mlp,
        image_size=side,
        patch_size=opts.patch,
        num_channels=3,
        decoder_hidden_size=max(32, hidden // 2),
        decoder_num_hidden_layers=2,
        decoder_num_attention_heads=max(1, heads),
        decoder_intermediate_size=2 * hidden,
        mask_ratio=opts.mask_ratio,
        norm_pix_loss=True,
    )


def pretrain_epochs(model, crops, opts: MaeOptions) -> float:
    """The pretraining loop (loop.py's optimiser and step); returns the last epoch's mean loss."""
    import torch

    steps = math.ceil(len(crops) / opts.batch_size) * opts.epochs
    optimizer, scheduler = optimiser(model, opts.lr, 0.05, steps, steps // 10, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(opts.seed)
    model.train()
    for epoch in range(1, opts.epochs + 1):
        order = torch.randperm(len(crops), generator=gen)
        total = 0.0
        for i in progress(math.ceil(len(crops) / opts.batch_size), f"mae epoch {epoch}/{opts.epochs}", opts.quiet):
            idx = order[i * opts.batch_size : (i + 1) * opts.batch_size]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=opts.bf16):
                loss = model(pixel_values=crops[idx]).loss
            step(optimizer, scheduler, loss)
            total += loss.item() * len(idx)
        say(opts.quiet, f"mae epoch {epoch}/{opts.epochs}: reconstruction loss {total / len(crops):.4f}")
    return total / len(crops)
