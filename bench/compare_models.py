"""The seed's claims answered with numbers: ViT vs ResNet-18 on rgb, diff and soart3 inputs (not a test).

    .venvs/trainer/bin/python bench/compare_models.py --data DIR --out runs/compare \
        [--epochs 15] [--only vit-rgb,cnn-rgb] [--extra "--threads 1"] [--table-only]

Every configuration gets the same data and budget (the train CLI's defaults for batch, lr, warm-up +
cosine schedule and seed; --epochs shared) and is an ordinary resumable `train` run in OUT/<name>/
(the names match pinscope_trainer.study, so `--table-only --out runs/study-wb` reads the study's runs):
a finished run (eval/metrics.json exists) is skipped, an interrupted one continues. ViT runs are then
scored with `attention --ckpts best` (pointing game on the defect box, per attention method); a ResNet
has no attention, so its cell is n/a. The table is printed and written to OUT/results.md and
OUT/results.json; --table-only rebuilds it from the runs already there without training anything.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_name, "1")

ARCHS = {"vit": "vit", "cnn": "resnet18"}
INPUTS = {  # name suffix -> (input mode, reference); rgb has no reference
    "rgb": ("rgb", None),
    "diff-unit": ("diff", "unit"),
    "soart3-unit": ("soart3", "unit"),
    "diff-twin": ("diff", "twin"),
    "soart3-twin": ("soart3", "twin"),
}
CONFIGS = {f"{a}-{i}": (arch, mode, ref) for a, arch in ARCHS.items() for i, (mode, ref) in INPUTS.items()}
METHOD_SHORT = {"cls": "cls", "rollout": "rollout", "gradient": "grad", "chance": "chance"}


def say(message: str) -> None:
    print(f"compare: {message}", file=sys.stderr, flush=True)


def train_args(name: str, data: str, run: Path, epochs: int, extra: list[str]) -> list[str]:
    arch, mode, ref = CONFIGS[name]
    cmd = ["train", "--data", data, "--out", str(run), "--epochs", str(epochs), "--resume"]
    cmd += ["--arch", arch, "--input", mode] + (["--reference", ref] if ref else [])
    return cmd + extra


def attention_file(run: Path) -> Path:
    return run / "attention" / "scores.json"


def run_config(name: str, args, extra: list[str], wall: dict) -> int:
    """Train (or continue) one configuration and score its attention; 0, or the CLI's exit code."""
    from pinscope_trainer.cli import main as cli_main

    run = Path(args.out) / name
    if not (run / "eval" / "metrics.json").is_file():
        cmd = train_args(name, args.data, run, args.epochs, extra)
        say(f"== {name}: {shlex.join(cmd)}")
        t0 = time.perf_counter()
        code = cli_main(cmd)
        wall[name] = wall.get(name, 0.0) + time.perf_counter() - t0
        if code != 0:
            return code
    else:
        say(f"== {name}: finished run in {run}, skipped")
    if CONFIGS[name][0] == "vit" and not attention_file(run).is_file():
        cmd = ["attention", "--run", str(run), "--ckpts", "best", "--out", str(run / "attention"), "--samples", "4"]
        say(f"   {name}: {shlex.join(cmd)}")
        code = cli_main(cmd)
        if code != 0:
            return code
    return 0


def train_seconds(run: Path) -> float | None:
    """Sum of the per-epoch `seconds` column of metrics.csv (training steps only), if recorded."""
    import csv

    try:
        with open(run / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        return sum(float(r["seconds"]) for r in rows) if rows else None
    except (OSError, KeyError, ValueError):
        return None


def pointing(run: Path) -> dict | None:
    """{method: pointing_box rate} of the best checkpoint, from the attention report."""
    try:
        scores = json.loads(attention_file(run).read_text())["scores"]
        by_method = scores.get("best") or next(iter(scores.values()))
        result = {m: v["overall"]["pointing_box"] for m, v in by_method.items()}
        # the chance rate (box area / image area) is the same for every method
        result["chance"] = next(iter(by_method.values()))["overall"].get("pointing_chance")
        return result
    except (OSError, ValueError, KeyError, TypeError, AttributeError, StopIteration):
        return None


def collect(name: str, out: Path, wall: dict, failed: dict) -> dict:
    arch, mode, ref = CONFIGS[name]
    run = out / name
    row = {"config": name, "arch": arch, "input": mode, "reference": ref or "none", "run": str(run)}
    try:
        metrics = json.loads((run / "eval" / "metrics.json").read_text())
    except (OSError, ValueError):
        row["status"] = f"failed (exit {failed[name]})" if name in failed else "not run"
        return row
    test = metrics["test"]
    seconds = train_seconds(run)
    row.update(
        status="done",
        epoch=metrics.get("epoch"),
        test_accuracy=test["accuracy"],
        macro_f1=test["macro_f1"],
        per_class_f1={label: v["f1"] for label, v in test["per_class"].items()},
        test_images=sum(v["support"] for v in test["per_class"].values()),
        pointing_box=pointing(run) if arch == "vit" else None,
        train_seconds=seconds if seconds is not None else wall.get(name),
        time_source="metrics.csv" if seconds is not None else ("wall" if name in wall else None),
    )
    return row


def cells(row: dict) -> list[str]:
    ref = row["reference"]
    head = [f"`{row['config']}`", "ViT" if row["arch"] == "vit" else "ResNet-18", row["input"], ref]
    if row["status"] != "done":
        return head + [row["status"]] * 5
    f1 = " · ".join(f"{k} {v:.2f}" for k, v in row["per_class_f1"].items())
    if row["arch"] != "vit":
        point = "n/a (no attention)"
    elif row["pointing_box"] is None:
        point = "not scored"
    else:
        point = " · ".join(
            f"{METHOD_SHORT.get(m, m)} {'–' if v is None else f'{v:.2f}'}" for m, v in row["pointing_box"].items()
        )
    seconds = row["train_seconds"]
    wall_note = " (wall)" if row["time_source"] == "wall" else ""
    time_cell = "n/a" if seconds is None else f"{seconds:.{0 if seconds >= 10 else 1}f}{wall_note}"
    return head + [f"{100 * row['test_accuracy']:.1f} %", f"{row['macro_f1']:.3f}", f1, point, time_cell]


def table(rows: list[dict]) -> str:
    header = [
        "config",
        "model",
        "input",
        "reference",
        "test acc",
        "macro F1",
        "per-class F1",
        "pointing game (box)",
        "train s",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):  # one line naming the field, exit 2 (argparse would print its usage block)
        print(f"error: {message.removeprefix('argument ')}", file=sys.stderr)
        sys.exit(2)


def main(argv=None) -> int:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="dataset folder (made by `make render`); not needed with --table-only")
    p.add_argument("--out", required=True, help="folder of the runs and the results files")
    p.add_argument("--epochs", type=int, default=15, help="the shared budget: epochs per configuration")
    p.add_argument("--only", default="", help=f"comma-separated subset of {','.join(CONFIGS)}")
    p.add_argument("--extra", default="", help='train options added to every run, e.g. "--threads 1"')
    p.add_argument("--table-only", action="store_true", help="rebuild the table from existing runs, train nothing")
    args = p.parse_args(argv)

    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(CONFIGS)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        print(f"error: --only: unknown configuration {unknown[0]!r}; choose from {', '.join(CONFIGS)}", file=sys.stderr)
        return 2
    if args.epochs < 1:
        print(f"error: --epochs: must be >= 1, got {args.epochs}", file=sys.stderr)
        return 2
    if not args.table_only and not args.data:
        print("error: --data: required unless --table-only (the dataset folder to train on)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wall_file = out / "wall_times.json"
    wall = json.loads(wall_file.read_text()) if wall_file.is_file() else {}
    failed: dict[str, int] = {}
    if not args.table_only:
        extra = shlex.split(args.extra)
        for name in names:
            code = run_config(name, args, extra, wall)
            wall_file.write_text(json.dumps(wall, indent=2) + "\n")
            if code == 130:
                say("interrupted: run the same command again to continue")
                return 130
            if code != 0:
                failed[name] = code
                say(f"   {name}: failed with exit code {code}; continuing with the others")

    rows = [collect(name, out, wall, failed) for name in names]
    text = table(rows)
    budget = f"{args.epochs} epochs" if not args.table_only else trained_budget(out, names)
    note = (
        f"Runs in `{out}`, budget {budget}. Test accuracy and F1 of each run's best-validation checkpoint "
        "(eval/metrics.json); pointing game = share of defective test images whose attention peak lies in "
        "the defect box (attention/scores.json, best checkpoint); train s = sum of the epochs' training "
        "time from metrics.csv ('wall' = this script's wall clock).\n\n"
    )
    (out / "results.md").write_text("# Model comparison\n\n" + note + text)
    (out / "results.json").write_text(json.dumps({"out": str(out), "configs": rows}, indent=2) + "\n")
    print(text, end="")
    return 1 if failed else 0


def trained_budget(out: Path, names) -> str:
    """The epochs the runs in OUT were trained for (from their run_config.json), for --table-only."""
    epochs = set()
    for name in names:
        config = out / name / "run_config.json"
        if config.is_file():
            epochs.add(json.loads(config.read_text()).get("args", {}).get("epochs"))
    epochs.discard(None)
    if not epochs:
        return "as trained"
    return " / ".join(f"{e} epochs" for e in sorted(epochs))


if __name__ == "__main__":
    sys.exit(main())
