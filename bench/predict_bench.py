"""Predict throughput: torch vs onnxruntime at batch 1 and 32, against the training speed of the same
model, side by side in one run (not a test).

    .venvs/trainer/bin/python bench/predict_bench.py [--data DIR] [--rounds 3] [--images 256] [--threads N] [--align A]

The model is the default recipe's: ViT tiny (192 hidden, 6 layers, 3 heads, patch 16) on `diff`
against the unit reference at the render size, trained by the trainer itself for two epochs per round
(its metrics.csv gives the training images/s of the faster epoch: forward, backward, AdamW step,
augmentation, token loss, as `make train` runs it). Then, on
the same images:

  model     the checkpoint's predictor on inputs already in memory (logits + the CLS attention that
            names the pin): torch as trained (bf16 autocast where the CPU has it), torch fp32, and
            onnxruntime (fp32, the exported model.onnx), at batch 1 and 32
  predict   the whole `predict` command on the PNG files at batch 32 (decode, resize, reference,
            model, pin, CSV/JSONL/HTML), without and with overlay PNGs: its throughput as it reports
            it in predict.json (images over the time spent on them, start-up left out, as training's
            images/s leaves out building the model and loading the data), and beside it the whole
            command's images/s with start-up (loading the checkpoint, reading the rows) included

Rounds interleave every side so that load from other jobs on the shared cores hits them all; each
side keeps its best round. Read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


TRAIN = "training"


def train_two_epochs(data: Path, out: Path, cache: Path, threads: int, align: str) -> tuple[Path, float]:
    """A fresh two-epoch run of the default model: (its best checkpoint, the faster epoch's training images/s)."""
    from pinscope_trainer.cli import main

    code = main(
        ["train", "--data", str(data), "--out", str(out), "--cache-dir", str(cache), "--epochs", "2"]
        + ["--threads", str(threads), "--quiet", "--no-eval", "--token-loss", "1.0", "--align", align]
    )
    if code != 0:
        raise SystemExit(f"training failed with exit code {code}")
    with open(out / "metrics.csv", newline="") as f:
        speed = max(float(row["img_per_s"]) for row in csv.DictReader(f))  # the warm epoch
    return out / "checkpoints" / "best", speed


def model_speed(predictor, inputs, batch: int, seconds: float = 3.0) -> float:
    """Images/s of a predictor over `inputs` in batches, after one warm-up batch, for at least `seconds`."""
    predictor(inputs[:batch])
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for first in range(0, len(inputs) - batch + 1, batch):
            predictor(inputs[first : first + batch])
            done += batch
            if time.perf_counter() - start >= seconds:
                break
    return done / (time.perf_counter() - start)


def command_speed(checkpoint: Path, images: Path, out: Path, threads: int, overlays: bool) -> tuple[float, float]:
    """(images/s as predict reports it: the images over the time spent on them, start-up left out as
    training's images/s leaves it out; images/s of the whole command, start-up included). A fresh
    output folder, so nothing is resumed."""
    from pinscope_trainer.cli import main

    args = ["predict", "--checkpoint", str(checkpoint), str(images), "--out", str(out), "--quiet"]
    args += ["--threads", str(threads), "--batch-size", "32"] + ([] if overlays else ["--no-overlays"])
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # its summary line
        code = main(args)
    if code != 0:
        raise SystemExit("predict failed")
    whole = len(list((images).glob("*.png"))) / (time.perf_counter() - start)
    return json.loads((out / "predict.json").read_text())["images_per_s"], whole


def predictors(checkpoint: Path, threads: int):
    from pinscope_trainer.checkpoints import load_checkpoint
    from pinscope_trainer.cli import main
    from pinscope_trainer.inference import OnnxPredictor, TorchPredictor

    with contextlib.redirect_stdout(io.StringIO()):
        if main(["export", "--checkpoint", str(checkpoint), "--onnx", "--limit", "64"]) != 0:
            raise SystemExit("export failed")
    model, info = load_checkpoint(checkpoint)
    bf16 = bool(info.get("bf16"))
    return {
        f"torch {'bf16' if bf16 else 'fp32'} (as trained)": TorchPredictor(model, bf16=bf16),
        "torch fp32": TorchPredictor(model, bf16=False),
        "onnxruntime fp32": OnnxPredictor(checkpoint / "model.onnx", threads),
    }, info


def one_round(data: Path, root: Path, round_no: int, threads: int, align: str, results: dict) -> tuple:
    """Train, then time every predictor and the predict command; append each side's images/s to `results`.
    Returns (the test inputs, the checkpoint's preprocess info)."""
    import torch
    from pinscope_trainer.data import load_split

    checkpoint, speed = train_two_epochs(data, root / f"run{round_no}", root / "cache", threads, align)
    results.setdefault(TRAIN, []).append(speed)
    found, info = predictors(checkpoint, threads)
    inputs = load_split(data, "test", info, cache_dir=root / "cache").inputs
    for name, predictor in found.items():
        for batch in (1, 32):
            results.setdefault(f"model  {name} batch {batch}", []).append(model_speed(predictor, inputs, batch))
    torch.set_num_threads(threads)
    for overlays in (False, True):
        label = f"predict command, torch batch 32, {'with' if overlays else 'no'} overlays"
        out = root / f"pred{round_no}{overlays}"
        steady, whole = command_speed(checkpoint, data / "test" / "images", out, threads, overlays)
        results.setdefault(label, []).append(steady)
        results.setdefault(f"{label}, start-up included", []).append(whole)
    return inputs, info


def report(best: dict, info: dict) -> None:
    """Each side's best images/s and its ratio to training's."""
    train = best.pop(TRAIN)
    kind = "training (bf16 autocast)" if info.get("bf16") else "training (fp32)"
    print(f"{kind:52s} {train:8.1f} img/s  1.00x")
    for name, value in best.items():
        print(f"{name:52s} {value:8.1f} img/s  {value / train:5.2f}x training")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="dataset folder (default: a synthetic 288x96 one in a temporary folder)")
    p.add_argument("--images", type=int, default=256, help="synthetic train/test images when --data is not given")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--align",
        default="register",
        help="the model's --align (default register, as the default recipe; none skips the per-image registration)",
    )
    p.add_argument("--threads", type=int, help="CPU threads for every side (default: the free cores at start)")
    args = p.parse_args()
    import torch
    from pinscope_trainer.hardware import auto_threads
    from pinscope_trainer.synthetic import make_dataset

    threads = args.threads or auto_threads()
    torch.set_num_threads(threads)
    tmp = tempfile.TemporaryDirectory()
    root = Path(tmp.name)
    data = (
        Path(args.data)
        if args.data
        else make_dataset(
            root / "ds", train=args.images, validation=32, test=args.images, reference=8, height=96, width=288
        )
    )
    results: dict[str, list[float]] = {}
    for round_no in range(1, args.rounds + 1):
        inputs, info = one_round(data, root, round_no, threads, args.align, results)
        print(
            f"round {round_no}: " + ", ".join(f"{k.split('(')[0].strip()} {v[-1]:.0f}" for k, v in results.items()),
            file=sys.stderr,
            flush=True,
        )
    print(
        f"data: {data}, {len(inputs)} test images {info['image_size'][1]}x{info['image_size'][0]}, "
        f"ViT tiny patch 16, input {info['input_mode']}, --align {args.align}, {threads} threads, "
        f"best of {args.rounds} rounds"
    )
    report({k: max(v) for k, v in results.items()}, info)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
