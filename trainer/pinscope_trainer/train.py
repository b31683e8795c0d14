"""The training loop: in-memory batches, AdamW, warmup + cosine, label smoothing, checkpoints, resume.

Why it is fast on a CPU: every split is decoded once (cache.py) and turned into one model-ready tensor,
so a step is an index into memory plus the model; there is no per-sample Python, PIL or collate work.
Why a resumed run ends with identical weights: the batch order and augmentation of epoch e come from a
generator seeded with (seed, e), dropout is off, and `last/` holds model, optimizer and schedule state.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .anomaly.run import train_anomaly
from .augment import AugmentOptions, augment_batch
from .checkpoints import checkpoint_root, copy_checkpoint, epoch_dir_name, load_trainer_state, save_checkpoint
from .data import LABEL_FIELDS, PinDataset, Preprocess
from .distill import distill_loss, teacher_train_logits
from .errors import UsageError
from .features.inputs import INPUT_MODES, REFERENCES
from .features.soart3 import BASES, CHANNEL_MODES, Soart3Options
from .hardware import auto_bf16, auto_threads, check_device_name, resolve_device
from .inference import predict_logits
from .models import ARCHS, PRESETS
from .options import Options, check_output_folder, defaults_of, image_size, int_list, nested, option
from .portable import from_dataset
from .token_loss import forward_with_tokens, patch_supervision, token_loss

TASKS = ("classify", "anomaly")  # anomaly: OK-only, no defect sample is read (anomaly/run.py, docs/trainer.md)


@dataclass(frozen=True)
class TrainOptions(Options):
    """`train`: every option of a run. Fields with affects_result=False may change on --resume."""

    data: str = option(help="dataset folder (made by `make render`)", required=True, affects_result=False)
    out: str = option(help="run folder to create (or continue with --resume)", required=True, affects_result=False)
    task: str = option(
        "classify",
        "classify (defect classes) or anomaly (OK renders only: unit-space anomaly maps, AUROC, AUPRO)",
        choices=TASKS,
    )
    arch: str = option("vit", "vit (Hugging Face ViT) or resnet18 (CNN baseline)", choices=ARCHS, group="model")
    preset: str = option(
        "tiny", "ViT size (tiny = 192 hidden, 6 layers, 3 heads)", choices=tuple(PRESETS), group="model"
    )
    patch: int = option(16, "ViT patch size (must divide the image size)", at_least=1, group="model")
    layers: int | None = option(None, "override the preset's layer count", at_least=1, group="model")
    hidden: int | None = option(None, "override the preset's hidden size", at_least=1, group="model")
    heads: int | None = option(None, "override the preset's attention heads", at_least=1, group="model")
    init: str | None = option(
        None, "local ViT folder (config.json + model.safetensors) to start from; head replaced", group="model"
    )
    label: str = option("label", "what to predict", choices=LABEL_FIELDS, group="data")
    # with the unit reference: 98-99 % in the accuracy study (docs/trainer.md)
    input: str = option(
        "diff",
        "rgb, diff (= render - reference), rgb-diff (both: 6 channels), soart3",
        choices=INPUT_MODES,
        group="data",
    )
    reference: str = option(
        "unit",
        "twin (the sample's defect-free render) or unit (per-view mean of reference/)",
        choices=REFERENCES,
        group="data",
    )
    image_size: list | None = option(
        None, "HxW to resize renders to (default: render size)", parse=image_size, metavar="HxW", group="data"
    )
    soart3_region: int = option(4, "pixels per SOART3 region side", at_least=1, group="data")
    soart3_tile: int = option(2, "tile side for --soart3-basis kernels", at_least=1, group="data")
    soart3_basis: str = option("raw", "SOART3 region vectors", choices=BASES, group="data")
    soart3_channels: str = option("concat", "SOART3 colour channels", choices=CHANNEL_MODES, group="data")
    cache_dir: str | None = option(
        None,
        "decoded-image cache (default $PINSCOPE_CACHE or ~/.cache/pinscope/trainer)",
        affects_result=False,
        group="data",
    )
    epochs: int = option(25, "epochs to train", at_least=1, group="training")
    batch_size: int = option(32, "images per step", at_least=1, group="training")
    lr: float = option(5e-4, "peak learning rate (AdamW)", above=0, group="training")
    weight_decay: float = option(0.05, "AdamW weight decay", at_least=0, group="training")
    warmup: float = option(0.1, "warm-up as a fraction of all steps", at_least=0, at_most=1, group="training")
    label_smoothing: float = option(0.1, "label smoothing of the cross-entropy", at_least=0, below=1, group="training")
    augment: AugmentOptions = nested(AugmentOptions, "training", disable=("--no-augment", "turn all augmentation off"))
    teacher: str | None = option(
        None,
        "checkpoint folder of a trained model (same inputs) to distil from, e.g. a resnet18 run's checkpoints/best",
        group="training",
    )
    distill_alpha: float = option(0.5, "weight of the teacher's soft targets", at_least=0, at_most=1, group="training")
    distill_temperature: float = option(2.0, "softmax temperature of distillation", above=0, group="training")
    token_loss: float = option(
        0.0,
        "weight of patch-token supervision from each row's defect box (ViT only, training only; 0 = off)",
        at_least=0,
        group="training",
    )
    seed: int = option(0, "seed of the model init, batch order and augmentation", at_least=0, group="training")
    bf16: bool | None = option(
        None,
        "bfloat16 autocast (default: on for ViTs on CPUs with avx512_bf16/AMX and on CUDA)",
        negative="--fp32",
        group="training",
    )
    threads: int | None = option(
        None,
        "torch CPU threads (default: the cores not busy with other work)",
        at_least=1,
        affects_result=False,
        group="training",
    )
    device: str = option(
        "auto", "auto (cuda when available), cpu, cuda, cuda:N", affects_result=False, group="training"
    )
    save_epochs: list = option(
        [], "epochs to keep, e.g. 300,400,500", parse=int_list, affects_result=False, group="checkpoints"
    )
    save_every: int = option(
        0, "also keep every K-th epoch (0 = off)", at_least=0, affects_result=False, group="checkpoints"
    )
    resume: bool = option(
        False, "continue the run in --out from checkpoints/last", affects_result=False, group="checkpoints"
    )
    no_eval: bool = option(False, "skip the final evaluation", affects_result=False, group="checkpoints")
    quiet: bool = option(False, "no progress output", affects_result=False, group="checkpoints")

    def check(self) -> None:
        bad = [e for e in self.save_epochs if not 1 <= e <= self.epochs]
        if bad:
            raise UsageError("--save-epochs", f"epochs must lie in 1..{self.epochs} (--epochs), got {bad[0]}")
        if self.arch == "vit":
            hidden, _, heads, _ = PRESETS[self.preset]
            hidden, heads = self.hidden or hidden, self.heads or heads
            if hidden % heads:
                raise UsageError("--heads", f"must divide the hidden size ({hidden}), got {heads}")
        if self.token_loss and self.arch != "vit":
            raise UsageError("--token-loss", f"needs --arch vit (patch tokens), got {self.arch!r}; use --token-loss 0")
        if self.input == "soart3":
            self.soart3_options().check()
        check_device_name(self.device)
        if not str(self.data).strip():
            raise UsageError("--data", "must name a dataset folder, got ''")
        check_output_folder("--out", self.out)
        check_output_folder("--cache-dir", self.cache_dir)

    def soart3_options(self) -> Soart3Options:
        return Soart3Options(self.soart3_region, self.soart3_tile, self.soart3_basis, self.soart3_channels)


def log(opts: TrainOptions, message: str) -> None:
    if not opts.quiet:
        print(message, file=sys.stderr, flush=True)


def prepare_data(opts: TrainOptions):
    """Dataset, preprocessing (normalisation fitted on train) and model-ready tensors per split."""
    import torch

    ds = PinDataset(opts.data, cache_dir=opts.cache_dir)
    size = tuple(opts.image_size) if opts.image_size else ds.render_size
    pre = Preprocess(
        label_field=opts.label,
        input_mode=opts.input,
        reference=opts.reference,
        image_size=size,
        soart3=opts.soart3_options(),
    )
    pre.check()
    pre.labels = ds.vocabulary(opts.label)
    from .features.inputs import fit_normalisation, normalise

    tensors = {}
    train_x = ds.inputs("train", pre, normalised=False)
    pre.mean, pre.std = fit_normalisation(train_x)
    tensors["train"] = (
        torch.from_numpy(normalise(train_x, pre.mean, pre.std)),
        torch.from_numpy(ds.label_ids("train", pre)),
    )
    for split in ("validation", "test"):
        if ds.rows(split, required=False):
            tensors[split] = (torch.from_numpy(ds.inputs(split, pre)), torch.from_numpy(ds.label_ids(split, pre)))
    if "validation" not in tensors:
        raise UsageError("--data", f"split 'validation' of {ds.root} is empty")
    return ds, pre, tensors


def build_model(opts: TrainOptions, pre: Preprocess):
    from . import models

    if opts.arch not in models.ARCHS:
        raise UsageError("--arch", f"must be one of {', '.join(models.ARCHS)}, got {opts.arch!r}")
    if opts.arch == "resnet18":
        model = models.build_resnet18(pre.channels, len(pre.labels))
        model.pinscope_config = models.resnet_config(pre.channels, pre.labels)
        return model
    if opts.init:
        return models.init_vit(opts.init, pre.image_size, pre.channels, pre.labels)
    cfg = models.vit_config(
        opts.preset, pre.image_size, opts.patch, pre.channels, pre.labels, opts.layers, opts.hidden, opts.heads
    )
    return models.build_vit(cfg)


def lr_lambda(total_steps: int, warmup_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def write_metrics_csv(path: Path, history: list[dict]) -> None:
    if not history:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)


def write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def check_resume(out: Path, opts: TrainOptions, spec_hash: str) -> bool:
    """True when the run continues from out/checkpoints/last (same config), False for a fresh run."""
    config_file = out / "run_config.json"
    if not config_file.exists():
        return False
    if not opts.resume:
        raise UsageError("--out", f"{out} already holds a run; pass --resume to continue it or choose another folder")
    old = json.loads(config_file.read_text())
    mine = opts.comparable()
    # an option added after the run was made has no key there: the run used what is now its default
    theirs = {k: v for k, v in {**defaults_of(TrainOptions), **old.get("args", {})}.items() if k in mine}
    diffs = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
    if diffs:
        k = diffs[0]
        raise UsageError(
            "--resume",
            f"{out} was made with another config ({k}: {theirs.get(k)!r} there, "
            f"{mine.get(k)!r} here); use the same options or another --out",
        )
    if old.get("dataset", {}).get("spec_hash") != spec_hash:
        raise UsageError(
            "--resume",
            f"{out} was trained on another dataset (spec_hash "
            f"{old.get('dataset', {}).get('spec_hash')}, --data has {spec_hash})",
        )
    return (checkpoint_root(out) / "last" / "trainer_state.pt").is_file()


def train(opts: TrainOptions) -> dict:
    """Train, checkpoint, evaluate; returns the summary dict (also written to the run folder)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if opts.task == "anomaly":  # a unit space of OK renders to fit, not a network to train
        return train_anomaly(opts.data, opts.out, opts.cache_dir, opts.resume, opts.quiet, opts.image_size)
    import torch
    from tqdm import tqdm

    torch.set_num_threads(opts.threads or auto_threads())
    out = Path(opts.out)
    from .distributed import init_world, wrap

    world, device_name = init_world(opts.device)
    device = resolve_device(device_name)
    # the resolved options: what run_config.json records and a resumed run compares (the caller's stay as they were)
    opts = replace(
        opts,
        quiet=opts.quiet or not world.main,
        bf16=auto_bf16(opts.arch, device) if opts.bf16 is None else opts.bf16,
    )
    ds, pre, tensors = prepare_data(opts)
    resuming = check_resume(out, opts, ds.spec_hash)
    world.barrier()  # every rank has checked the run folder before rank 0 writes to it
    torch.manual_seed(opts.seed)
    model = build_model(opts, pre)
    model.to(device)
    tensors = {split: (x.to(device), y.to(device)) for split, (x, y) in tensors.items()}
    from .models import count_parameters, forward_logits

    info = {
        **pre.to_info(),
        "arch": opts.arch,
        "dataset": str(Path(opts.data).resolve()),
        "spec_hash": ds.spec_hash,
        "bf16": opts.bf16,
        "render_size": list(ds.render_size),
        "ok_labels": ds.ok_classes(pre.label_field),
    }
    reference = from_dataset(ds, pre, ds.rows("train"))  # carried by every checkpoint (portable.py)
    train_x, train_y = tensors["train"]
    val_x, val_y = tensors["validation"]
    steps_per_epoch = math.ceil(len(train_x) / opts.batch_size)
    total = steps_per_epoch * opts.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(total, max(1, int(opts.warmup * total))))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=opts.label_smoothing)
    aug = opts.augment
    teacher_logits = teacher_train_logits(opts, pre, train_x)
    token_targets, ok_id = patch_supervision(opts, ds, pre, model, train_y)
    start_epoch, history, best = 1, [], {"val_acc": -1.0, "val_loss": float("inf"), "epoch": 0}
    if resuming:
        last = checkpoint_root(out) / "last"
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(last / "model.safetensors"), device=str(device)))
        state = load_trainer_state(last)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, history, best = state["epoch"] + 1, list(state["history"]), dict(state["best"])
        log(opts, f"resuming {out} after epoch {state['epoch']}")
    trained = wrap(model, world)  # DistributedDataParallel under torchrun/accelerate launch, else the model
    if world.main:
        out.mkdir(parents=True, exist_ok=True)
    run_config = {
        "args": asdict(opts),
        "dataset": {
            "path": str(Path(opts.data).resolve()),
            "spec_hash": ds.spec_hash,
            "counts": {s: len(t[0]) for s, t in tensors.items()},
        },
        "preprocess": pre.to_info(),
        "model": {"arch": opts.arch, "parameters": count_parameters(model)},
        "processes": world.size,
        "versions": {"torch": torch.__version__, "transformers": _version("transformers")},
    }
    if world.main:
        write_json(out / "run_config.json", run_config)
    save_epochs = set(opts.save_epochs)
    kill_env = os.environ.get("PINSCOPE_KILL_AT")  # "epoch:step", test-only fault injection
    kill_at = tuple(int(v) for v in kill_env.split(":")) if kill_env else None
    model.train()
    for epoch in range(start_epoch, opts.epochs + 1):
        from pinscope_schema import derive_seed

        gen = torch.Generator().manual_seed(derive_seed(opts.seed, "epoch", epoch))
        order = torch.randperm(len(train_x), generator=gen)
        t0, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch}/{opts.epochs}",
            leave=False,
            disable=opts.quiet or not sys.stderr.isatty(),  # bars on a terminal; epoch lines always
            file=sys.stderr,
        )
        for step in bar:
            if kill_at == (epoch, step):  # fault injection for the kill-and-resume test: a real SIGKILL
                os.kill(os.getpid(), signal.SIGKILL)
            idx = order[step * opts.batch_size : (step + 1) * opts.batch_size]
            x = world.shard(augment_batch(train_x[idx], gen, aug))  # every rank augments the global batch
            y = world.shard(train_y[idx])
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=opts.bf16):
                if token_targets is None:
                    logits = forward_logits(trained, x)
                else:
                    logits, patch_logits = forward_with_tokens(trained, x)
            loss = loss_fn(logits.float(), y)
            if token_targets is not None:
                patch_y = world.shard(token_targets[idx])
                loss = loss + opts.token_loss * token_loss(patch_logits, patch_y, ok_id, opts.label_smoothing)
            if teacher_logits is not None:
                loss = (1 - opts.distill_alpha) * loss + opts.distill_alpha * distill_loss(
                    logits.float(), world.shard(teacher_logits[idx]), opts.distill_temperature
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        seconds = time.perf_counter() - t0
        val_logits = predict_logits(model, val_x, bf16=opts.bf16)
        val_loss = torch.nn.functional.cross_entropy(val_logits, val_y.cpu()).item()
        val_acc = (val_logits.argmax(1) == val_y.cpu()).float().mean().item()
        row = {
            "epoch": epoch,
            "step": epoch * steps_per_epoch,
            "lr": scheduler.get_last_lr()[0],
            "train_loss": loss_sum / seen,
            "train_acc": correct / seen,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "seconds": round(seconds, 3),
            "img_per_s": round(seen / seconds, 2),
        }
        history.append(row)
        log(
            opts,
            f"epoch {epoch}/{opts.epochs}: loss {row['train_loss']:.4f} train_acc {row['train_acc']:.3f} "
            f"val_loss {val_loss:.4f} val_acc {val_acc:.3f} ({row['img_per_s']:.0f} img/s)",
        )
        improved = (val_acc, -val_loss) > (best["val_acc"], -best["val_loss"])
        if improved:
            best = {"val_acc": val_acc, "val_loss": val_loss, "epoch": epoch}
        epoch_info = {**info, "epoch": epoch, "val_acc": val_acc, "val_loss": val_loss}
        state = {
            "epoch": epoch,
            "step": epoch * steps_per_epoch,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "history": history,
            "best": best,
        }
        if not world.main:
            continue
        root = checkpoint_root(out)
        keep = epoch in save_epochs or (opts.save_every and epoch % opts.save_every == 0)
        if keep:
            save_checkpoint(root / epoch_dir_name(epoch), model, epoch_info, state, reference)
        if improved:
            if keep:
                copy_checkpoint(root / epoch_dir_name(epoch), root / "best")
            else:
                save_checkpoint(root / "best", model, epoch_info, state, reference)
        # last/ is written after best/ so a kill in between resumes this epoch's successor correctly
        save_checkpoint(root / "last", model, epoch_info, state, reference)
        write_metrics_csv(out / "metrics.csv", history)
    summary = {"run": str(out), "epochs": opts.epochs, "best_epoch": best["epoch"], "best_val_acc": best["val_acc"]}
    world.barrier()
    world.close()
    if not opts.no_eval and world.main:
        from .evaluate import evaluate_run

        cpu = {split: (x.cpu(), y.cpu()) for split, (x, y) in tensors.items()}
        summary.update(evaluate_run(out, tensors=cpu, quiet=opts.quiet))
    return summary


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)
