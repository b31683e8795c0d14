"""Training throughput: PinScope's data path and loop vs the Hugging Face example pipeline (not a test).

Same model (ViT from a ViTConfig), same data, same batch size, side by side in one run:

  hf        `datasets.load_dataset("imagefolder")` + `set_transform` with torchvision transforms +
            `transformers.Trainer`, fp32 -- the image-classification example as a user runs it.
  pinscope  the trainer's path: decode once into the memory-mapped cache, one model-ready tensor per
            split, in-memory batches with label-preserving augmentation, AdamW + schedule (fp32 and bf16).
  limit     the same model stepping on tensors already in memory, no augmentation (fp32 and bf16).

Prints images/s for each and the ratios to hf. Run on 2 shared cores, so read ratios, not absolutes:
    .venvs/trainer/bin/python bench/train_bench.py [--data DIR] [--steps 30] [--batch-size 32]
Without --data a synthetic 288x96 dataset is written to a temporary folder. With --accuracy-epochs N
it also trains the pinscope loop fp32 and bf16 for N epochs each and prints their test accuracy.

    .venvs/trainer/bin/python bench/train_bench.py --against main [--rounds 3] [--threads 1]

times the trainer itself (`train`, the default recipe: ViT tiny, diff/unit, token loss, bf16 where
the CPU has it) of this checkout and of another git ref, side by side: the ref's
trainer/pinscope_trainer is extracted to a temporary folder, both run as fresh two-epoch runs in
subprocesses on the same data with the same threads, alternating, and each keeps its best round of
the faster epoch's images/s (from its own metrics.csv).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def vit(labels, size, args):
    import torch
    from pinscope_trainer.models import build_vit, vit_config

    torch.manual_seed(0)
    return build_vit(vit_config(args.preset, size, args.patch, 3, labels))


def bench_hf(data_dir, labels, size, args) -> float:
    """The HF example pipeline; images/s over the steps after the warm-up ones."""
    import datasets
    import torch
    from torchvision import transforms
    from transformers import Trainer, TrainerCallback, TrainingArguments

    ds = datasets.load_dataset("imagefolder", data_dir=str(data_dir), split="train")
    label_id = {n: i for i, n in enumerate(labels)}
    tf = transforms.Compose(
        [transforms.Resize(size), transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)]
    )

    def transform(batch):
        batch["pixel_values"] = [tf(img.convert("RGB")) for img in batch["image"]]
        batch["labels"] = [label_id[n] for n in batch["label"]]
        return batch

    ds.set_transform(transform)

    def collate(examples):
        return {
            "pixel_values": torch.stack([e["pixel_values"] for e in examples]),
            "labels": torch.tensor([e["labels"] for e in examples]),
        }

    class Clock(TrainerCallback):
        start = None

        def on_step_end(self, a, state, control, **kw):
            if state.global_step == args.warmup_steps:
                self.start = time.perf_counter()

    clock = Clock()
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=args.batch_size,
            max_steps=args.steps + args.warmup_steps,
            learning_rate=5e-4,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            remove_unused_columns=False,
            dataloader_num_workers=0,
            use_cpu=True,
            disable_tqdm=True,
            seed=0,
        )
        trainer = Trainer(
            model=vit(labels, size, args), args=targs, train_dataset=ds, data_collator=collate, callbacks=[clock]
        )
        trainer.train()
        seconds = time.perf_counter() - clock.start
    return args.steps * args.batch_size / seconds


def loop(model, x, y, args, bf16: bool, augment: bool) -> float:
    """PinScope's inner loop on in-memory tensors; images/s after warm-up."""
    import math

    import torch
    from pinscope_trainer.augment import AugmentOptions, augment_batch
    from pinscope_trainer.loop import lr_lambda

    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.05)
    total = args.steps + args.warmup_steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(total, max(1, total // 10)))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    gen = torch.Generator().manual_seed(0)
    aug = AugmentOptions() if augment else AugmentOptions(0, 0, 0, 0)
    n = len(x)
    per_epoch = math.ceil(n / args.batch_size)
    model.train()
    start = None
    for step in range(total):
        if step == args.warmup_steps:
            start = time.perf_counter()
        if step % per_epoch == 0:
            order = torch.randperm(n, generator=gen)
        i = step % per_epoch
        idx = order[i * args.batch_size : (i + 1) * args.batch_size]
        if len(idx) < args.batch_size:  # keep every step a full batch, as the HF side is
            idx = order[: args.batch_size]
        xb = augment_batch(x[idx], gen, aug)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(pixel_values=xb).logits
        loss = loss_fn(logits.float(), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return args.steps * args.batch_size / (time.perf_counter() - start)


def pinscope_data(data_dir, size, cache):
    import torch
    from pinscope_trainer.data import PinDataset, Preprocess
    from pinscope_trainer.features.inputs import normalise

    t0 = time.perf_counter()
    ds = PinDataset(data_dir, cache_dir=cache)
    unfitted = Preprocess(labels=tuple(ds.vocabulary("label")), input_mode="rgb", image_size=size)
    x = ds.inputs("train", unfitted, normalised=False)
    pre = unfitted.fitted(x)
    x = torch.from_numpy(normalise(x, pre.mean, pre.std))
    y = torch.from_numpy(ds.label_ids("train", pre))
    return ds, pre, x, y, time.perf_counter() - t0


def accuracy_check(data_dir, cache, epochs: int) -> None:
    """Same recipe trained fp32 and bf16 through the real trainer; test accuracy of each."""
    from pinscope_trainer.train import TrainOptions, train

    for bf16 in (False, True):
        with tempfile.TemporaryDirectory() as out:
            opts = TrainOptions(
                data=str(data_dir),
                out=str(Path(out) / "run"),
                input="diff",
                reference="unit",
                epochs=epochs,
                bf16=bf16,
                cache_dir=str(cache),
                quiet=True,
            )
            summary = train(opts)
            print(
                f"accuracy  pinscope {'bf16' if bf16 else 'fp32'}: test {summary['test_acc']:.4f} "
                f"(diff/unit, {epochs} epochs)"
            )


def trainer_speed(code_dir: Path, data_dir: Path, out: Path, cache: Path, threads: int) -> float:
    """Images/s of a two-epoch `train` run of the trainer package in code_dir (the faster epoch)."""
    import csv
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(code_dir)}
    cmd = [sys.executable, "-m", "pinscope_trainer.cli", "train", "--data", str(data_dir), "--out", str(out)]
    cmd += ["--epochs", "2", "--token-loss", "1.0", "--threads", str(threads), "--cache-dir", str(cache)]
    done = subprocess.run([*cmd, "--no-eval", "--quiet"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"train in {code_dir} failed: {done.stderr.strip()[-500:]}")
    with open(out / "metrics.csv", newline="") as f:
        return max(float(row["img_per_s"]) for row in csv.DictReader(f))


def compare_versions(ref: str, data_dir: Path, root: Path, rounds: int, threads: int) -> None:
    """This checkout's trainer against git ref `ref`'s, interleaved (see the module docstring)."""
    import subprocess

    repo = Path(__file__).resolve().parent.parent
    theirs = root / "ref"
    theirs.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", ref, "trainer/pinscope_trainer"], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {ref}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(theirs)], input=archive.stdout, check=True)
    sides = {"this checkout": repo / "trainer", ref: theirs / "trainer"}
    speeds: dict[str, list[float]] = {name: [] for name in sides}
    for round_no in range(1, rounds + 1):
        for name, code in sides.items():
            speeds[name].append(trainer_speed(code, data_dir, root / f"{round_no}-{len(speeds[name])}-{name[:4]}",
                                              root / "cache", threads))  # fmt: skip
        print(f"round {round_no}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in speeds.items()) + " img/s", flush=True)
    best = {k: max(v) for k, v in speeds.items()}
    print(f"train (default recipe, {threads} threads, best of {rounds}): this checkout {best['this checkout']:.1f} "
          f"img/s, {ref} {best[ref]:.1f} img/s = {best['this checkout'] / best[ref]:.3f}x")  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="dataset folder (default: a synthetic 288x96 one in a temp folder)")
    p.add_argument("--train-size", type=int, default=256, help="synthetic train images when --data is not given")
    p.add_argument("--steps", type=int, default=12, help="timed steps per side and round")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds; each side keeps its best")
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--patch", type=int, default=16)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--accuracy-epochs", type=int, default=0)
    p.add_argument("--against", help="time the trainer of this checkout against this git ref's (e.g. main)")
    args = p.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory()
    cache = Path(tmp.name) / "cache"
    if args.data:
        data_dir = Path(args.data)
    else:
        from pinscope_trainer.synthetic import make_dataset

        data_dir = make_dataset(
            Path(tmp.name) / "ds", train=args.train_size, validation=32, test=64, reference=8, height=96, width=288
        )
    if args.against:
        from pinscope_trainer.hardware import auto_threads

        compare_versions(args.against, data_dir, Path(tmp.name), args.rounds, args.threads or auto_threads())
        tmp.cleanup()
        return 0
    from pinscope_trainer.data import PinDataset

    size = PinDataset(data_dir, cache_dir=cache).render_size
    ds, pre, x, y, cold = pinscope_data(data_dir, size, cache)
    warm = pinscope_data(data_dir, size, cache)[-1]
    labels = pre.labels
    print(
        f"data: {data_dir} ({len(x)} train images, {size[0]}x{size[1]} px), batch {args.batch_size}, "
        f"ViT {args.preset} patch {args.patch}, {torch.get_num_threads()} threads",
        flush=True,
    )
    print(f"pinscope data prep: {cold:.2f} s cold (decode + cache), {warm:.2f} s warm (memory-mapped cache)")
    # Rounds interleave the sides so that load from other jobs on the shared cores hits all of them;
    # each side reports its best round.
    results: dict[str, list[float]] = {}
    for round_no in range(1, args.rounds + 1):
        results.setdefault("hf", []).append(bench_hf(data_dir, labels, size, args))
        for bf16 in (False, True):
            tag = "bf16" if bf16 else "fp32"
            results.setdefault(f"pinscope {tag}", []).append(loop(vit(labels, size, args), x, y, args, bf16, True))
            results.setdefault(f"limit {tag}", []).append(loop(vit(labels, size, args), x, y, args, bf16, False))
        print(f"round {round_no}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in results.items()) + " img/s", flush=True)
    best = {k: max(v) for k, v in results.items()}
    print(f"hf pipeline (imagefolder + set_transform + Trainer, fp32): {best['hf']:.1f} img/s")
    for name in ("pinscope fp32", "pinscope bf16", "limit fp32", "limit bf16"):
        print(f"{name:14s}: {best[name]:7.1f} img/s  = {best[name] / best['hf']:.2f}x hf")
    results = best
    memory = x.element_size() * x.numel() / 2**20
    print(
        f"in-memory tensors: {memory:.0f} MiB for {len(x)} train images ({memory / len(x) * 1024:.0f} KiB each, "
        "float32); the limit is the model itself: pinscope bf16 reaches "
        f"{results['pinscope bf16'] / results['limit bf16']:.0%} of it"
    )
    if args.accuracy_epochs:
        accuracy_check(data_dir, cache, args.accuracy_epochs)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
