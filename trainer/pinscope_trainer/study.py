"""Accuracy study: train the configurations of docs/trainer.md one after another and print one table.

    .venvs/trainer/bin/python -m pinscope_trainer.study --data data/default --out runs/study \
        [--only vit-rgb,cnn-rgb] [--epochs 15] [--extra "--bf16"]

Every configuration is an ordinary `train` run in OUT/<name>/ (resumable: a finished run is skipped,
an interrupted one continues), so its report.md, curves and checkpoints are there to inspect.
`vit-rgb-distil` uses `cnn-rgb`'s best checkpoint as its teacher (run cnn-rgb first).
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .cli import main as cli_main
from .errors import run_command
from .options import OneLineParser, Options, add_arguments, check_output_folder, from_namespace, option

# name -> train options (the budget, --epochs, is shared and given on the command line)
CONFIGS = {
    "vit-rgb": ["--input", "rgb"],
    "vit-diff-unit": ["--input", "diff", "--reference", "unit"],
    "vit-soart3-unit": ["--input", "soart3", "--reference", "unit"],
    "vit-diff-twin": ["--input", "diff", "--reference", "twin"],
    "vit-soart3-twin": ["--input", "soart3", "--reference", "twin"],
    "cnn-rgb": ["--arch", "resnet18", "--input", "rgb"],
    "vit-rgb-distil": ["--input", "rgb", "--teacher", "{out}/cnn-rgb/checkpoints/best", "--distill-alpha", "0.7"],
    "vit-rgb-p8": ["--input", "rgb", "--patch", "8", "--layers", "4"],
    "vit-rgb-p32": ["--input", "rgb", "--patch", "32"],
    "vit-rgb-long": ["--input", "rgb"],  # run with a larger --epochs
    "vit-rgb-lr2e-4": ["--input", "rgb", "--lr", "2e-4"],
    "vit-rgb-warm30": ["--input", "rgb", "--warmup", "0.3"],
    "vit-rgb-mae": ["--input", "rgb", "--init", "{out}/mae"],  # after `pretrain-mae --out OUT/mae`
    "vit-rgb-mae30": ["--input", "rgb", "--init", "{out}/mae30"],  # MAE pretrained 30 epochs
    # patch-token supervision from the defect boxes (token_loss.py)
    "vit-rgb-tok": ["--input", "rgb", "--token-loss", "1.0"],
    "vit-rgb-mae30-tok": ["--input", "rgb", "--init", "{out}/mae30", "--token-loss", "1.0"],
    "vit-diff-unit-tok": ["--input", "diff", "--reference", "unit", "--token-loss", "1.0"],
}


def configuration_list(text: str) -> tuple:
    names = tuple(n for n in text.split(",") if n)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown configuration {unknown[0]!r}; choose from {', '.join(CONFIGS)}")
    return names


@dataclass(frozen=True)
class StudyOptions(Options):
    """The accuracy study: which configurations, on which data, for how many epochs."""

    data: str = option(help="dataset folder", required=True)
    out: str = option(help="folder of the study's runs (one per configuration)", required=True)
    only: tuple = option((), f"comma-separated subset of {','.join(CONFIGS)}", parse=configuration_list)
    epochs: int = option(15, "epochs of every run", at_least=1)
    extra: str = option("--bf16", "options added to every run")

    def check(self) -> None:
        check_output_folder("--out", self.out)


def main(argv=None) -> int:
    parser = OneLineParser(prog="pinscope_trainer.study", description=__doc__.splitlines()[0])
    add_arguments(parser, StudyOptions)
    return run_command(lambda: study(from_namespace(StudyOptions, parser.parse_args(argv))))


def study(args: StudyOptions) -> int:
    names = list(args.only) or list(CONFIGS)
    rows = []
    for name in names:
        run = Path(args.out) / name
        opts = [o.replace("{out}", args.out) for o in CONFIGS[name]]
        cmd = [
            "train",
            "--data",
            args.data,
            "--out",
            str(run),
            "--epochs",
            str(args.epochs),
            "--resume",
            *opts,
            *shlex.split(args.extra),
        ]
        metrics_file = run / "eval" / "metrics.json"
        t0 = time.perf_counter()
        if not metrics_file.is_file():
            print(f"== {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
            if cli_main(cmd) != 0:
                rows.append((name, "failed", "", "", ""))
                continue
        metrics = json.loads(metrics_file.read_text())
        history = (run / "metrics.csv").read_text().splitlines()[1:]
        train_s = sum(float(line.split(",")[7]) for line in history)
        rows.append(
            (
                name,
                f"{metrics['test']['accuracy']:.4f}",
                f"{metrics['validation']['accuracy']:.4f}",
                str(metrics["epoch"]),
                f"{train_s:.0f}",
            )
        )
        print(
            f"   {name}: test {rows[-1][1]} (best epoch {rows[-1][3]}, {time.perf_counter() - t0:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    print("| config | test acc | val acc | best epoch | train s |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
