"""Evaluation outputs of a run: eval/metrics.json, confusion.{png,json}, mistakes.csv, curves.png and report.md."""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from pinscope_schema import atomic_file, atomic_write, write_json_atomic

from . import multilabel
from .checkpoints import checkpoint_root, load_checkpoint, read_run_config
from .data import PinDataset, Preprocess, label_of, load_split
from .errors import UsageError
from .features.inputs import view_means
from .features.line_scale import far_line_warning, line_distance, scales
from .inference import predict_logits
from .metrics import classification_report
from .multilabel import is_multilabel, pin_mistakes, pin_report
from .options import Options, option
from .parts import PartsDisagree, part_report
from .portable import PortableReference

CHECKPOINT_NAME = re.compile(r"^(best|last|epoch-\d{4,})$")


@dataclass(frozen=True)
class EvaluateOptions(Options):
    """`evaluate`: score a run's checkpoint on validation and test, of its own or another dataset."""

    run: str = option(help="run folder", required=True)
    checkpoint: str = option("best", "best, last or epoch-NNNN")
    data: str | None = option(None, "another PinScope dataset to score on (with its own reference renders)")
    name: str | None = option(None, "eval/NAME/ for the results on --data (default: the dataset folder's name)")

    def check(self) -> None:
        if not str(self.run).strip():
            raise UsageError("--run", "must name a run folder, got ''")
        if not CHECKPOINT_NAME.match(self.checkpoint):
            raise UsageError("--checkpoint", f"must be best, last or epoch-NNNN, got {self.checkpoint!r}")
        if self.name is not None and not self.data:
            raise UsageError("--name", "names the results of --data; pass --data OTHER too")
        name = self.eval_name()
        if name is not None and (name in ("", ".", "..") or "/" in name or "\\" in name):
            raise UsageError("--name", f"must be a plain folder name (no '/'), got {name!r}")

    def eval_name(self) -> str | None:
        if not self.data:
            return None
        return self.name if self.name is not None else Path(self.data).resolve().name


def evaluate_command(opts: EvaluateOptions) -> dict:
    return evaluate_run(opts.run, checkpoint=opts.checkpoint, data=opts.data, name=opts.eval_name())


def evaluate_run(
    run_dir, checkpoint: str = "best", tensors: dict | None = None, quiet: bool = False, data=None, name=None
) -> dict:
    """Score a checkpoint of the run on validation and test; write the eval files and the report.

    Without `data`: the run's own dataset, into RUN/eval/ and RUN/report.md. With `data` (another
    dataset) and `name`: into RUN/eval/NAME/ (report.md there too)."""
    run_dir = Path(run_dir)
    run_config = read_run_config(run_dir, "--run")
    path = checkpoint_root(run_dir) / checkpoint
    if not (path / "model.safetensors").is_file():
        raise UsageError("--checkpoint", f"{path} does not exist (finished epochs write checkpoints/last and best)")
    model, info = load_checkpoint(path)
    dataset = data or run_config["dataset"]["path"]
    if tensors is None:
        tensors, rows, ds = split_tensors(
            dataset, info, run_config["args"].get("cache_dir"), "--data" if data else "--run"
        )
    else:  # the training loop's tensors: read the rows that go with them once, for the mistakes list
        ds = PinDataset(dataset, validate=False)
        rows = {split: ds.rows(split, required=False) for split in SPLITS}
    try:
        results, wrong = score(model, info, tensors, rows, checkpoint)
    except PartsDisagree as err:  # checked before any eval file is written
        raise UsageError("--data" if data else "--run", f"{dataset}: {err}") from None
    results["line_factor"] = round(ds.line_factor(Preprocess.from_info(info)), 4)  # 1 on a one-line training set
    if data:  # another line: how far its OK parts lie from the training line's (features/line_scale.py)
        results["line_distance"] = line_distance_of(ds, info, path)
        far = far_line_warning("--data", results["line_distance"])
        if far:
            print(far, file=sys.stderr)
    eval_dir = run_dir / "eval" / name if name else run_dir / "eval"
    history = read_history(run_dir / "metrics.csv")
    write_eval_files(eval_dir, results, wrong, info, history)
    report = eval_dir / "report.md" if name else run_dir / "report.md"
    write_report(report, run_dir, run_config, results, history, wrong, dataset, "" if name else "eval/")
    print(summary_line(run_dir, info, checkpoint, results, name), flush=True)
    if not quiet:
        print(f"  report: {report}", file=sys.stderr)
    return {
        "checkpoint": checkpoint,
        "val_acc": results.get("validation", {}).get("accuracy"),
        "test_acc": results.get("test", {}).get("accuracy"),
    }


SPLITS = ("validation", "test")


def line_distance_of(ds: PinDataset, info: dict, checkpoint) -> float | None:
    """The largest distance of the dataset's production lines from the training line (line_scale.py), from
    the unit mean the checkpoint carries; None for a model that does not line-scale."""
    pre = Preprocess.from_info(info)
    trained = PortableReference.load(checkpoint)
    if not scales(pre) or trained is None or not trained.views:
        return None
    register = pre.align.startswith("register")
    distances = []
    for line in sorted({r.line for r in ds.reference_rows}):
        means = view_means(*ds.line_renders(pre.image_size, line), register)
        distances.append(line_distance(trained.views, means, pre.residual_level))
    known = [d for d in distances if d is not None]
    return max(known) if known else None


def split_tensors(dataset, info: dict, cache_dir, field: str) -> tuple[dict, dict, PinDataset]:
    """({split: (inputs, labels)}, {split: rows}, the dataset) of the splits the dataset has, as the
    checkpoint needs them."""
    ds = PinDataset(dataset, cache_dir=cache_dir)
    known = set(info["labels"])
    pre = Preprocess.from_info(info)
    tensors, rows = {}, {}
    for split in SPLITS:
        split_rows = ds.rows(split, required=False)
        if not split_rows:
            continue
        # pins: every row's bits are known once the grid matches (label_ids checks the pin count)
        names = {label_of(r, pre.label_field, ds.ok_labels) for r in split_rows}
        unknown = [] if is_multilabel(pre.label_field) else sorted(names - known)
        if unknown:
            raise UsageError(
                field,
                f"{ds.root} has classes the model does not know: {', '.join(unknown[:5])} (it knows {sorted(known)})",
            )
        data = load_split(ds, split, info)
        tensors[split], rows[split] = (data.inputs, data.labels), data.rows
    if not tensors:
        raise UsageError(field, f"{ds.root} has no validation or test images to score")
    return tensors, rows, ds


def score(model, info: dict, tensors: dict, rows: dict, checkpoint: str) -> tuple[dict, list]:
    """Metrics per split and every mistake, from one pass of the model over each split."""
    import torch

    results = {"checkpoint": checkpoint, "epoch": info.get("epoch"), "labels": info["labels"]}
    wrong = []
    for split in SPLITS:
        if split not in tensors:
            continue
        x, y = tensors[split]
        logits = predict_logits(model, x, bf16=bool(info.get("bf16")))
        if is_multilabel(info.get("label_field", "label")):  # one NG bit per pin
            probs = torch.sigmoid(logits.float()).numpy()
            report = pin_report(y.numpy(), probs > 0.5, info["labels"])
            results[split] = {"loss": multilabel.loss(logits, y), **report}
            wrong += pin_mistakes(split, rows[split], y.numpy(), probs, info["labels"])
            continue
        loss = torch.nn.functional.cross_entropy(logits, y).item()
        report = classification_report(y.numpy(), logits.argmax(1).numpy(), info["labels"])
        results[split] = {"loss": loss, **report}
        log_probs = torch.log_softmax(logits.float(), 1).numpy()
        parts = part_report(rows[split], y.numpy(), log_probs, info["labels"])
        if parts is not None:  # every camera's image of each part (dataset.every_view): one decision a part
            results[split]["parts"] = parts
        wrong += mistakes(split, rows[split], y.numpy(), torch.softmax(logits.float(), 1).numpy(), info["labels"])
    results["mistakes"] = len(wrong)
    return results, wrong


def write_eval_files(eval_dir: Path, results: dict, wrong: list, info: dict, history: list) -> None:
    """metrics.json, confusion.json + .png, mistakes.csv, curves.png (each written atomically)."""
    eval_dir.mkdir(parents=True, exist_ok=True)
    write_mistakes(eval_dir / "mistakes.csv", wrong)
    write_json_atomic(eval_dir / "metrics.json", results)
    main = "test" if "test" in results else "validation"
    matrix, labels = results[main]["confusion"], results[main]["labels"]  # --label pins: images OK/NG
    confusion = {"split": main, "labels": labels, "rows": "true", "columns": "predicted", "matrix": matrix}
    write_json_atomic(eval_dir / "confusion.json", confusion)
    title = f"{main} ({results['checkpoint']}, epoch {info.get('epoch')})"
    plot_confusion(matrix, labels, eval_dir / "confusion.png", title)
    plot_curves(history, eval_dir / "curves.png")


def summary_line(run_dir: Path, info: dict, checkpoint: str, results: dict, name: str | None) -> str:
    reference = "/" + info["reference"] if info["input_mode"] != "rgb" else ""
    where = f" on {name}" if name else ""
    scores = ", ".join(f"{s} acc {results[s]['accuracy']:.4f}{part_score(results[s])}" for s in SPLITS if s in results)
    model = f"{info.get('arch')} {info['input_mode']}{reference}"
    return f"{run_dir}: {model} {checkpoint} epoch {info.get('epoch')}{where}: {scores}"


def part_score(split_results: dict) -> str:
    """' (per part 0.9900 over 100)' for a split scored per part as well, else ''."""
    parts = split_results.get("parts")
    return f" (per part {parts['accuracy']:.4f} over {parts['n']})" if parts else ""


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
    with atomic_file(path, "w") as f:
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
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
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
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)


MISTAKES_SHOWN = 20  # report.md lists the first ones; the CSV has them all


def write_report(
    path: Path, run_dir: Path, run_config: dict, results: dict, history: list, wrong: list, dataset, prefix: str
) -> None:
    """The run in one page: what was trained, how fast, how well, the first mistakes. `prefix` is where
    the eval pictures lie relative to the page ('eval/' for RUN/report.md, '' inside eval/NAME/)."""
    lines = header_lines(run_dir, run_config, results, dataset)
    if history:
        speed = sum(h["img_per_s"] for h in history) / len(history)
        seconds = sum(h["seconds"] for h in history)
        lines += [f"Training speed: {speed:.0f} img/s on average; {seconds:.0f} s of training steps in all.", ""]
    lines += result_lines(results)
    lines += mistake_lines(results, wrong, prefix)
    lines += ["", f"![confusion]({prefix}confusion.png)", "", f"![curves]({prefix}curves.png)", ""]
    atomic_write(path, "\n".join(lines))


def header_lines(run_dir: Path, run_config: dict, results: dict, dataset) -> list[str]:
    args, pre, trained_on = run_config["args"], run_config["preprocess"], run_config["dataset"]
    own = Path(dataset).resolve() == Path(trained_on["path"]).resolve()
    data_line = (
        f"- dataset: `{trained_on['path']}` (spec_hash {trained_on['spec_hash']}, counts {trained_on['counts']})"
        if own
        else f"- scored on: `{dataset}` (trained on `{trained_on['path']}`, spec_hash {trained_on['spec_hash']})"
    )
    vit = f" preset {args['preset']}, patch {args['patch']}" if args["arch"] == "vit" else ""
    init = f", init {args['init']}" if args.get("init") else ""
    return [
        f"# Run {run_dir.name}",
        "",
        data_line,
        f"- model: {args['arch']}{vit}, {run_config['model']['parameters']:,} parameters{init}",
        f"- input: {pre['input_mode']} (reference {pre['reference']}), image {pre['image_size'][0]}x"
        f"{pre['image_size'][1]} px, label field `{pre['label_field']}` ({len(pre['labels'])} classes)",
        f"- training: {args['epochs']} epochs, batch {args['batch_size']}, AdamW lr {args['lr']}, "
        f"warmup {args['warmup']}, label smoothing {args['label_smoothing']}, seed {args['seed']}, "
        f"bf16 {args['bf16']}",
        f"- evaluated checkpoint: {results['checkpoint']} (epoch {results['epoch']})",
        "",
    ]


def result_lines(results: dict) -> list[str]:
    lines = ["| split | n | accuracy | macro F1 | loss |", "|---|---|---|---|---|"]
    for split in SPLITS:
        if split in results:
            r = results[split]
            lines.append(f"| {split} | {r['n']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['loss']:.4f} |")
    lines += part_lines(results)
    main = "test" if "test" in results else "validation"
    lines += ["", f"Per class ({main}):", "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, m in results[main]["per_class"].items():
        lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    return lines


def part_lines(results: dict) -> list[str]:
    """The per-part table of a dataset whose parts every camera saw (parts.py), else nothing."""
    scored = [s for s in SPLITS if "parts" in results.get(s, {})]
    if not scored:
        return []
    cameras = results[scored[0]]["parts"]["cameras"]
    lines = ["", f"Per part ({cameras} cameras' images, their log-probabilities summed):", ""]
    lines += ["| split | parts | accuracy | macro F1 | parts wrong |", "|---|---|---|---|---|"]
    for split in scored:
        p = results[split]["parts"]
        wrong = ", ".join(map(str, p["wrong_parts"][:MISTAKES_SHOWN])) or "-"
        lines.append(f"| {split} | {p['n']} | {p['accuracy']:.4f} | {p['macro_f1']:.4f} | {wrong} |")
    return lines


def mistake_lines(results: dict, wrong: list, prefix: str) -> list[str]:
    main = "test" if "test" in results else "validation"
    shown = [m for m in wrong if m["split"] == main][:MISTAKES_SHOWN]
    lines = ["", f"Mistakes ({main}): {sum(m['split'] == main for m in wrong)} of {results[main]['n']}"]
    if not shown:
        return lines
    lines += [f"(all splits in `{prefix}mistakes.csv`)", ""]
    lines += ["| index | true | predicted | confidence | pin | view | file |", "|---|---|---|---|---|---|---|"]
    for m in shown:
        lines.append(
            f"| {m['index']} | {m['true']} | {m['predicted']} | {m['confidence']:.2f} | {m['pin'] or '-'} "
            f"| {m['view']} | `{m['file_name']}` |"
        )
    return lines
