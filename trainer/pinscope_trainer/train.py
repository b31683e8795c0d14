"""The training loop: in-memory batches, AdamW, warmup + cosine, label smoothing, checkpoints, resume.

Why it is fast on a CPU: every split is decoded once (cache.py) and turned into one model-ready tensor,
so a step is an index into memory plus the model; there is no per-sample Python, PIL or collate work.
Why a resumed run ends with identical weights: the batch order and augmentation of epoch e come from a
generator seeded with (seed, e), dropout is off, and `last/` holds model, optimizer and schedule state.
"""

from __future__ import annotations

import csv
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path

import numpy as np
from pinscope_schema import atomic_file, derive_seed, write_json_atomic

from . import models, multilabel
from .anomaly.run import train_anomaly
from .augment import augment_batch, misregistered, toward_twin
from .checkpoints import (
    checkpoint_root,
    copy_checkpoint,
    epoch_dir_name,
    load_resume_point,
    read_run_config,
    save_checkpoint,
)
from .data import PinDataset, Preprocess
from .distill import check_teacher, distill_loss, teacher_logits_of
from .distributed import init_world, wrap
from .errors import UsageError
from .evaluate import evaluate_run
from .features.inputs import normalise
from .features.line_scale import applies
from .hardware import auto_bf16, auto_threads, resolve_device
from .inference import predict_logits
from .loop import improves, optimiser, progress, say, step
from .models import forward_logits
from .multilabel import is_multilabel
from .options import (
    as_json_values,
    defaults_of,
)
from .portable import from_dataset
from .token_loss import forward_with_tokens, patch_supervision, token_loss
from .train_options import TrainOptions


@dataclass
class Run:
    """One training run as setup() builds it; `history`, `best` and `start_epoch` are the loop's state."""

    opts: TrainOptions  # resolved (bf16 chosen, quiet on non-main ranks): what run_config.json records
    out: Path
    world: object  # distributed.World
    device: object
    ds: PinDataset
    pre: Preprocess
    info: dict  # preprocess.json of every checkpoint, less the epoch
    reference: object  # portable.PortableReference, carried by every checkpoint
    model: object
    trained: object  # DistributedDataParallel under torchrun/accelerate launch, else the model
    tensors: dict  # split -> (inputs, labels) on the device
    optimizer: object
    scheduler: object
    losses: Losses
    steps_per_epoch: int
    history: list
    best: dict  # val_acc, val_loss, epoch of the best epoch so far
    start_epoch: int
    twins: object = None  # the training split's twin inputs on the device, where the augmentation uses them
    misregister: tuple | None = None  # augment.misregistered's unit means, unit of each sample, scales


@dataclass
class Losses:
    """The training loss: label-smoothed cross-entropy, plus patch-token supervision and distillation
    where the options ask for them (targets computed once, before the first step)."""

    opts: TrainOptions
    cross_entropy: object
    token_targets: object = None
    ok_id: int | None = None
    teacher_logits: object = None

    def __call__(self, world, model, x, y, idx):
        """(loss, logits) of one batch, under the run's autocast."""
        opts = self.opts
        if self.token_targets is None:
            logits = forward_logits(model, x)
        else:
            logits, patch_logits = forward_with_tokens(model, x)
        loss = self.cross_entropy(logits.float(), y)
        if self.token_targets is not None:
            patch_y = world.shard(self.token_targets[idx])
            loss = loss + opts.token_loss * token_loss(patch_logits, patch_y, self.ok_id, opts.label_smoothing)
        if self.teacher_logits is not None:
            soft = distill_loss(logits.float(), world.shard(self.teacher_logits[idx]), opts.distill_temperature)
            loss = (1 - opts.distill_alpha) * loss + opts.distill_alpha * soft
        return loss, logits


def train(opts: TrainOptions) -> dict:
    """Train, checkpoint, evaluate; returns the summary dict (also written to the run folder)."""
    if opts.task == "anomaly":  # a unit space of OK renders to fit, not a network to train
        return train_anomaly(opts.data, opts.out, opts.cache_dir, opts.resume, opts.quiet, opts.image_size)
    run = setup(opts)
    for epoch in range(run.start_epoch, run.opts.epochs + 1):
        row = train_epoch(run, epoch)
        end_epoch(run, epoch, row)
    return finish(run)


# --- setup: every check before the first write, then the run folder --------------------------------
def setup(opts: TrainOptions) -> Run:
    """Check everything (dataset, model, resume point, teacher), then decode the data and write
    run_config.json. Bad input raises UsageError before anything is written."""
    import torch

    torch.set_num_threads(opts.threads or auto_threads())
    world, device_name = init_world(opts.device)
    device = resolve_device(device_name)
    # the resolved options: what run_config.json records and a resumed run compares (the caller's stay as they were)
    opts = replace(
        opts, quiet=opts.quiet or not world.main, bf16=auto_bf16(opts.arch, device) if opts.bf16 is None else opts.bf16
    )
    ds = PinDataset(opts.data, cache_dir=opts.cache_dir)
    if not ds.rows("validation", required=False):
        raise UsageError("--data", f"split 'validation' of {ds.root} is empty")
    check_twins(opts, ds)
    unfitted = unfitted_preprocess(opts, ds)
    torch.manual_seed(opts.seed)
    model = build_model(opts, unfitted)
    resume = resume_point(Path(opts.out), opts, ds.spec_hash, device)
    teacher = check_teacher(opts.teacher, unfitted) if opts.teacher else None
    world.barrier()  # every rank has checked the run folder before rank 0 writes to it
    pre, tensors = model_inputs(ds, line_scaled(opts, ds, unfitted), device)
    losses = build_losses(opts, ds, pre, model.to(device), tensors["train"], teacher)
    run = assemble(opts, world, device, ds, pre, model, tensors, losses, resume)
    if opts.uses_twins:
        run.twins = torch.from_numpy(ds.inputs("train", pre, role="twin")).to(device)
    if opts.aug_misregister:
        run.misregister = misregistration(ds, pre, device)
    if world.main:
        run.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run.out / "run_config.json", run_config(run))
    return run


def check_twins(opts: TrainOptions, ds: PinDataset) -> None:
    """The defect-contrast augmentation draws against each training sample's twin: the data must have them."""
    if opts.uses_twins and any(not r.twin_file for r in ds.rows("train")):
        raise UsageError(
            opts.twin_flag, f"needs each training sample's twin render ({ds.root} has none: spec.dataset.twin); use 1"
        )


def misregistration(ds: PinDataset, pre: Preprocess, device) -> tuple:
    """augment.misregistered's inputs for the training split: the unit means (U, 3, H, W) on the device,
    which one each sample was compared against (N,), and per sample and channel what its difference was
    multiplied by on the way into the model (N, C): the line factor over the channel's std, 0 on the
    channels that are not a difference (rgb-diff's first three)."""
    import torch

    means, index = ds.unit_means("train", pre)
    factors = ds.line_factors(pre)
    per_line = np.array([factors.get(r.line, 1.0) for r in ds.rows("train")], dtype=np.float32)
    per_channel = 1.0 / np.asarray(pre.std, dtype=np.float32)
    if pre.input_mode == "rgb-diff":
        per_channel[:3] = 0.0
    units = torch.from_numpy(np.ascontiguousarray(means.transpose(0, 3, 1, 2))).to(device)
    return units, torch.from_numpy(index).to(device), torch.from_numpy(per_line[:, None] * per_channel).to(device)


def assemble(opts: TrainOptions, world, device, ds, pre, model, tensors, losses, resume) -> Run:
    """The Run, whole: optimiser and schedule, the resumed state if any, the (distributed) model."""
    steps_per_epoch = math.ceil(len(tensors["train"][0]) / opts.batch_size)
    total = steps_per_epoch * opts.epochs
    optimizer, scheduler = optimiser(model, opts.lr, opts.weight_decay, total, int(opts.warmup * total))
    start_epoch, history, best = 1, [], {"val_acc": -1.0, "val_loss": float("inf"), "epoch": 0}
    if resume is not None:
        weights, state = resume
        model.load_state_dict(weights)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, history, best = state["epoch"] + 1, list(state["history"]), dict(state["best"])
        say(opts.quiet, f"resuming {opts.out} after epoch {state['epoch']}")
    reference = from_dataset(ds, pre, ds.rows("train"))  # carried by every checkpoint (portable.py)
    trained = wrap(model, world)  # after the resumed weights: DDP broadcasts rank 0's at construction
    info = run_info(opts, ds, pre)
    return Run(
        opts, Path(opts.out), world, device, ds, pre, info, reference, model, trained, tensors,
        optimizer, scheduler, losses, steps_per_epoch, history, best, start_epoch,
    )  # fmt: skip


def unfitted_preprocess(opts: TrainOptions, ds: PinDataset) -> Preprocess:
    """The run's preprocessing before the normalisation is fitted (model_inputs fits it)."""
    return Preprocess(
        label_field=opts.label,
        labels=tuple(ds.vocabulary(opts.label)),
        input_mode=opts.input,
        reference=opts.reference,
        image_size=tuple(opts.image_size) if opts.image_size else ds.render_size,
        soart3=opts.soart3_options(),
        align=opts.align,
        nearest=opts.nearest,
    )


def line_scaled(opts: TrainOptions, ds: PinDataset, pre: Preprocess) -> Preprocess:
    """`pre` with the training line's residual level where the difference is line-scaled (it decodes the
    reference renders, so it runs after every check)."""
    if applies(opts.input, opts.reference, opts.line_scale) and ds.reference_rows:
        return replace(pre, residual_level=ds.residual_level(pre))
    return pre


def model_inputs(ds: PinDataset, unfitted: Preprocess, device) -> tuple[Preprocess, dict]:
    """(the preprocessing with the training split's normalisation, {split: (inputs, labels)} on the device)."""
    import torch

    train_x = ds.inputs("train", unfitted, normalised=False)
    pre = unfitted.fitted(train_x)
    tensors = {"train": (torch.from_numpy(normalise(train_x, pre.mean, pre.std)), ds.label_ids("train", pre))}
    for split in ("validation", "test"):
        if ds.rows(split, required=False):
            tensors[split] = (torch.from_numpy(ds.inputs(split, pre)), ds.label_ids(split, pre))
    return pre, {s: (x.to(device), torch.from_numpy(y).to(device)) for s, (x, y) in tensors.items()}


def build_model(opts: TrainOptions, pre: Preprocess):
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


def resume_point(out: Path, opts: TrainOptions, spec_hash: str, device) -> tuple[dict, dict] | None:
    """(weights, trainer state) of out/checkpoints/last when the run continues (same config and
    dataset), None for a fresh run. Refuses an existing run without --resume, another config, another
    dataset, and a damaged run_config.json, weights or trainer_state.pt."""
    if not (out / "run_config.json").exists():
        return None
    if not opts.resume:
        raise UsageError("--out", f"{out} already holds a run; pass --resume to continue it or choose another folder")
    old = read_run_config(out, "--out")
    mine = opts.comparable()
    # an option added after the run was made has no key there: the run used what is now its default
    theirs = {k: v for k, v in {**defaults_of(TrainOptions), **old["args"]}.items() if k in mine}
    diffs = [k for k in sorted(mine) if mine[k] != theirs.get(k)]
    if diffs:
        k = diffs[0]
        raise UsageError(
            "--resume",
            f"{out} was made with another config ({k}: {theirs.get(k)!r} there, "
            f"{mine.get(k)!r} here); use the same options or another --out",
        )
    theirs_hash = old["dataset"].get("spec_hash")
    if theirs_hash != spec_hash:
        raise UsageError(
            "--resume", f"{out} was trained on another dataset (spec_hash {theirs_hash}, --data has {spec_hash})"
        )
    last = checkpoint_root(out) / "last"
    return load_resume_point(last, device) if (last / "trainer_state.pt").is_file() else None


def build_losses(opts: TrainOptions, ds: PinDataset, pre: Preprocess, model, train, teacher) -> Losses:
    import torch

    train_x, train_y = train
    token_targets, ok_id = patch_supervision(opts, ds, pre, model, train_y)
    teacher_logits = teacher_logits_of(teacher, train_x, opts.bf16) if teacher is not None else None
    if is_multilabel(pre.label_field):  # one NG bit per pin
        cross_entropy = torch.nn.BCEWithLogitsLoss()
    else:
        cross_entropy = torch.nn.CrossEntropyLoss(label_smoothing=opts.label_smoothing)
    return Losses(opts, cross_entropy, token_targets, ok_id, teacher_logits)


def run_info(opts: TrainOptions, ds: PinDataset, pre: Preprocess) -> dict:
    return {
        **pre.to_info(),
        "arch": opts.arch,
        "dataset": str(Path(opts.data).resolve()),
        "spec_hash": ds.spec_hash,
        "bf16": opts.bf16,
        "render_size": list(ds.render_size),
        "ok_labels": ds.ok_classes(pre.label_field),
    }


def run_config(run: Run) -> dict:
    import torch

    return {
        "args": as_json_values(asdict(run.opts)),
        "dataset": {
            "path": str(Path(run.opts.data).resolve()),
            "spec_hash": run.ds.spec_hash,
            "counts": {s: len(t[0]) for s, t in run.tensors.items()},
        },
        "preprocess": run.pre.to_info(),
        "model": {"arch": run.opts.arch, "parameters": models.count_parameters(run.model)},
        "processes": run.world.size,
        "versions": {"torch": torch.__version__, "transformers": version("transformers")},
    }


# --- one epoch -------------------------------------------------------------------------------------
def train_epoch(run: Run, epoch: int) -> dict:
    """The steps of one epoch; returns its training numbers (loss, accuracy, seconds, images/s)."""
    import torch

    opts, world = run.opts, run.world
    train_x, train_y = run.tensors["train"]
    gen = torch.Generator().manual_seed(derive_seed(opts.seed, "epoch", epoch))
    order = torch.randperm(len(train_x), generator=gen)
    kill_env = os.environ.get("PINSCOPE_KILL_AT")  # "epoch:step", test-only fault injection
    kill_at = tuple(int(v) for v in kill_env.split(":")) if kill_env else None
    t0, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
    run.model.train()
    bar = progress(run.steps_per_epoch, f"epoch {epoch}/{opts.epochs}", opts.quiet)
    for i in bar:
        if kill_at == (epoch, i):  # fault injection for the kill-and-resume test: a real SIGKILL
            os.kill(os.getpid(), signal.SIGKILL)
        idx = order[i * opts.batch_size : (i + 1) * opts.batch_size]
        x = train_x[idx]
        if run.twins is not None:
            x = toward_twin(x, run.twins[idx], gen, opts.aug_defect_contrast, opts.aug_residual)
        if run.misregister is not None:
            units, unit_of, scale = run.misregister
            x = misregistered(x, units[unit_of[idx]], scale[idx], gen, opts.aug_misregister)
        x = world.shard(augment_batch(x, gen, opts.augment))  # every rank augments the global batch
        y = world.shard(train_y[idx])
        with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=opts.bf16):
            loss, logits = run.losses(world, run.trained, x, y, idx)
        step(run.optimizer, run.scheduler, loss)
        seen += len(y)
        loss_sum += loss.item() * len(y)
        correct += multilabel.correct(logits, y)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - t0
    return {"train_loss": loss_sum / seen, "train_acc": correct / seen, "seconds": seconds, "img_per_s": seen / seconds}


# --- epoch end: validation, best, checkpoints, metrics ----------------------------------------------
def end_epoch(run: Run, epoch: int, trained: dict) -> None:

    val_x, val_y = run.tensors["validation"]
    val_logits = predict_logits(run.model, val_x, bf16=run.opts.bf16)
    val_loss = multilabel.loss(val_logits, val_y.cpu())
    val_acc = multilabel.correct(val_logits, val_y.cpu()) / len(val_y)
    row = {
        "epoch": epoch,
        "step": epoch * run.steps_per_epoch,
        "lr": run.scheduler.get_last_lr()[0],
        "train_loss": trained["train_loss"],
        "train_acc": trained["train_acc"],
        "val_loss": val_loss,
        "val_acc": val_acc,
        "seconds": round(trained["seconds"], 3),
        "img_per_s": round(trained["img_per_s"], 2),
    }
    run.history.append(row)
    say(
        run.opts.quiet,
        f"epoch {epoch}/{run.opts.epochs}: loss {row['train_loss']:.4f} train_acc {row['train_acc']:.3f} "
        f"val_loss {val_loss:.4f} val_acc {val_acc:.3f} ({row['img_per_s']:.0f} img/s)",
    )
    improved = improves(run.opts.best_by, val_acc, val_loss, run.best)
    if improved:
        run.best = {"val_acc": val_acc, "val_loss": val_loss, "epoch": epoch}
    if run.world.main:
        save_epoch(run, epoch, improved, {**run.info, "epoch": epoch, "val_acc": val_acc, "val_loss": val_loss})
        write_metrics_csv(run.out / "metrics.csv", run.history)


def save_epoch(run: Run, epoch: int, improved: bool, epoch_info: dict) -> None:
    """The checkpoints of an epoch: the numbered one if asked for, best/ if it improved, always last/."""
    state = {
        "epoch": epoch,
        "step": epoch * run.steps_per_epoch,
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "history": run.history,
        "best": run.best,
    }
    root, opts = checkpoint_root(run.out), run.opts
    keep = epoch in opts.save_epochs or (opts.save_every and epoch % opts.save_every == 0)
    if keep:
        save_checkpoint(root / epoch_dir_name(epoch), run.model, epoch_info, state, run.reference)
    if improved:
        if keep:
            copy_checkpoint(root / epoch_dir_name(epoch), root / "best")
        else:
            save_checkpoint(root / "best", run.model, epoch_info, state, run.reference)
    # last/ is written after best/ so a kill in between resumes this epoch's successor correctly
    save_checkpoint(root / "last", run.model, epoch_info, state, run.reference)


def write_metrics_csv(path: Path, history: list[dict]) -> None:
    with atomic_file(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


# --- finish ----------------------------------------------------------------------------------------
def finish(run: Run) -> dict:
    """Close the process group and evaluate the best checkpoint (unless --no-eval)."""
    opts, best = run.opts, run.best
    summary = {"run": str(run.out), "epochs": opts.epochs, "best_epoch": best["epoch"], "best_val_acc": best["val_acc"]}
    run.world.barrier()
    run.world.close()
    if not opts.no_eval and run.world.main:
        cpu = {split: (x.cpu(), y.cpu()) for split, (x, y) in run.tensors.items()}
        summary.update(evaluate_run(run.out, tensors=cpu, quiet=opts.quiet))
    return summary
