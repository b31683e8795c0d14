"""Evaluation outputs of a run: eval/metrics.json, confusion.{png,json}, mistakes.csv, curves.png and report.md."""

from __future__ import annotations

import csv
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .checkpoints import checkpoint_root, load_checkpoint
from .errors import UsageError
from .metrics import classification_report
from .options import Options, option

CHECKPOINT_NAME = re.compile(r"^(best|last|epoch-\d{4,})$")


@dataclass(frozen=True)
class EvaluateOptions(Options):
    """`evaluate`: score a run's checkpoint on validation and test."""

    run: str = option(help="run folder", required=True)
    checkpoint: str = option("best", "best, last or epoch-NNNN")

    def check(self) -> None:
        if not str(self.run).strip():
            raise UsageError("--run", "must name a run folder, got ''")
        if not CHECKPOINT_NAME.match(self.checkpoint):
            raise UsageError("--checkpoint", f"must be best, last or epoch-NNNN, got {self.checkpoint!r}")


def evaluate_command(opts: EvaluateOptions) -> dict:
    return evaluate_run(opts.run, checkpoint=opts.checkpoint)


def evaluate_run(run_dir, checkpoint: str = "best", tensors: dict | None = None, quiet: bool = False) -> dict:
    """Score a checkpoint of the run on validation and test; write the eval/ files and report.md."""
    import torch

    from .train import predict

    run_dir = Path(run_dir)
    config_file = run_dir / "run_config.json"
    if not config_file.is_file():
        raise UsageError("--run", f"{run_dir} is not a run folder (no run_config.json)")
    run_config = json.loads(config_file.read_text())
    path = checkpoint_root(run_dir) / checkpoint
    if not (path / "model.safetensors").is_file():
        raise UsageError("--checkpoint", f"{path} does not exist (finished epochs write checkpoints/last and best)")
    model, info = load_checkpoint(path)
    dataset = run_config["dataset"]["path"]
    if tensors is None:
        from .data import load_split

        tensors, rows = {}, {}
        for split in ("validation", "test"):
            data = load_split(dataset, split, info, cache_dir=run_config["args"].get("cache_dir"))
            tensors[split], rows[split] = (data.inputs, data.labels), data.rows
    else:  # the training loop's tensors: read the rows that go with them once, for the mistakes list
        from .data import PinDataset

        ds = PinDataset(dataset, validate=False)
        rows = {split: ds.rows(split, required=False) for split in ("validation", "test")}
    results = {"checkpoint": checkpoint, "epoch": info.get("epoch"), "labels": info["labels"]}
    wrong = []
    for split in ("validation", "test"):
        if split not in tensors:
            continue
        x, y = tensors[split]
        logits = predict(model, x, bf16=bool(info.get("bf16")))
        loss = torch.nn.functional.cross_entropy(logits, y).item()
        report = classification_report(y.numpy(), logits.argmax(1).numpy(), info["labels"])
        results[split] = {"loss": loss, **report}
        wrong += mistakes(split, rows[split], y.numpy(), torch.softmax(logits.float(), 1).numpy(), info["labels"])
    eval_dir = run_dir / "eval"
    eval_dir.mkdir(exist_ok=True)
    write_mistakes(eval_dir / "mistakes.csv", wrong)
    results["mistakes"] = len(wrong)
    (eval_dir / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    main_split = "test" if "test" in results else "validation"
    (eval_dir / "confusion.json").write_text(
        json.dumps(
            {
                "split": main_split,
                "labels": info["labels"],
                "rows": "true",
                "columns": "predicted",
                "matrix": results[main_split]["confusion"],
            },
            indent=2,
        )
        + "\n"
    )
    plot_confusion(
        results[main_split]["confusion"],
        info["labels"],
        eval_dir / "confusion.png",
        f"{main_split} ({checkpoint}, epoch {info.get('epoch')})",
    )
    history = read_history(run_dir / "metrics.csv")
    plot_curves(history, eval_dir / "curves.png")
    write_report(run_dir, run_config, results, history, wrong)
    summary = {
        "checkpoint": checkpoint,
        "val_acc": results.get("validation", {}).get("accuracy"),
        "test_acc": results.get("test", {}).get("accuracy"),
    }
    line = (
        f"{run_dir}: {info.get('arch')} {info['input_mode']}"
        f"{'/' + info['reference'] if info['input_mode'] != 'rgb' else ''} {checkpoint} epoch {info.get('epoch')}: "
        + ", ".join(f"{s} acc {results[s]['accuracy']:.4f}" for s in ("validation", "test") if s in results)
    )
    print(line, flush=True)
    if not quiet:
        print(f"  report: {run_dir / 'report.md'}", file=sys.stderr)
    return summary


MISTAKE_FIELDS = ("split", "index", "file_name", "true", "predicted", "confidence", "pin", "view", "qeu_code")


def mistakes(split: str, rows: list, y, probs, labels: list[str]) -> list[dict]:
    """Every image the checkpoint got wrong, with what the dataset knows about it (pin, view, QEU code):
    the first thing to look at when an accuracy stops short, e.g. whether the misses share a pin or a camera."""
    predicted = probs.argmax(1)
    return [
        {
            "split": split,
            "index": rows[i].index,
            "file_name": f"{split}/{rows[i].file_name}",
            "true": labels[y[i]],
            "predicted": labels[predicted[i]],
            "confidence": round(float(probs[i, predicted[i]]), 4),
            "pin": "" if rows[i].pin is None else "{},{}".format(*rows[i].pin),
            "view": rows[i].view,
            "qeu_code": rows[i].qeu_code,
        }
        for i in (predicted != y).nonzero()[0]
    ]


def write_mistakes(path: Path, wrong: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MISTAKE_FIELDS)
        writer.writeheader()
        writer.writerows(wrong)


def read_history(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def plot_confusion(matrix, labels, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cm = np.asarray(matrix)
    size = max(4.0, 0.35 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    if len(labels) <= 12:
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if cm[i, j] > cm.max() / 2 else "black",
                )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    if history:
        epochs = [h["epoch"] for h in history]
        a.plot(epochs, [h["train_loss"] for h in history], label="train")
        a.plot(epochs, [h["val_loss"] for h in history], label="validation")
        b.plot(epochs, [h["train_acc"] for h in history], label="train")
        b.plot(epochs, [h["val_acc"] for h in history], label="validation")
    a.set_title("loss")
    b.set_title("accuracy")
    for ax in (a, b):
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


MISTAKES_SHOWN = 20  # report.md lists the first ones; the CSV has them all


def write_report(run_dir: Path, run_config: dict, results: dict, history: list[dict], wrong: list[dict]) -> None:
    args, pre = run_config["args"], run_config["preprocess"]
    lines = [
        f"# Run {run_dir.name}",
        "",
        f"- dataset: `{run_config['dataset']['path']}` (spec_hash {run_config['dataset']['spec_hash']}, "
        f"counts {run_config['dataset']['counts']})",
        f"- model: {args['arch']}"
        + (f" preset {args['preset']}, patch {args['patch']}" if args["arch"] == "vit" else "")
        + f", {run_config['model']['parameters']:,} parameters"
        + (f", init {args['init']}" if args.get("init") else ""),
        f"- input: {pre['input_mode']} (reference {pre['reference']}), image {pre['image_size'][0]}x"
        f"{pre['image_size'][1]} px, label field `{pre['label_field']}` ({len(pre['labels'])} classes)",
        f"- training: {args['epochs']} epochs, batch {args['batch_size']}, AdamW lr {args['lr']}, "
        f"warmup {args['warmup']}, label smoothing {args['label_smoothing']}, seed {args['seed']}, "
        f"bf16 {args['bf16']}",
        f"- evaluated checkpoint: {results['checkpoint']} (epoch {results['epoch']})",
        "",
    ]
    if history:
        speed = sum(h["img_per_s"] for h in history) / len(history)
        lines.append(
            f"Training speed: {speed:.0f} img/s on average; {sum(h['seconds'] for h in history):.0f} s "
            "of training steps in all."
        )
        lines.append("")
    lines += ["| split | n | accuracy | macro F1 | loss |", "|---|---|---|---|---|"]
    for split in ("validation", "test"):
        if split in results:
            r = results[split]
            lines.append(f"| {split} | {r['n']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['loss']:.4f} |")
    main = "test" if "test" in results else "validation"
    lines += ["", f"Per class ({main}):", "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, m in results[main]["per_class"].items():
        lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    shown = [m for m in wrong if m["split"] == main][:MISTAKES_SHOWN]
    lines += ["", f"Mistakes ({main}): {sum(m['split'] == main for m in wrong)} of {results[main]['n']}"]
    if shown:
        lines += ["(all splits in `eval/mistakes.csv`)", ""]
        lines.append("| index | true | predicted | confidence | pin | view | file |")
        lines.append("|---|---|---|---|---|---|---|")
        for m in shown:
            lines.append(
                f"| {m['index']} | {m['true']} | {m['predicted']} | {m['confidence']:.2f} | {m['pin'] or '-'} "
                f"| {m['view']} | `{m['file_name']}` |"
            )
    lines += ["", "![confusion](eval/confusion.png)", "", "![curves](eval/curves.png)", ""]
    (run_dir / "report.md").write_text("\n".join(lines))
