"""Command line: `python -m pinscope_trainer.cli train|pretrain-mae|evaluate|attention|predict|export ...`.

Each subcommand is one options dataclass (its fields are the flags, options.py generates the parser)
and one function taking it. Bad input prints one line `error: <field>: <problem>` on stderr and exits 2
(errors.run_command); nothing already written (checkpoints, metrics) is touched by a refused command.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from .attention.build import run as attention
from .attention.cli import HELP as ATTENTION_HELP
from .attention.cli import INTERRUPTED as ATTENTION_INTERRUPTED
from .attention.runner import AttentionOptions
from .errors import run_command
from .evaluate import EvaluateOptions, evaluate_command
from .export import ExportOptions, export
from .mae import MaeOptions, pretrain
from .options import OneLineParser, add_command, from_namespace
from .predict import PredictOptions, predict
from .train import TrainOptions, train


@dataclass(frozen=True)
class Command:
    options: type
    run: object  # options -> exit code (or anything, meaning 0)
    help: str
    interrupted: str = ""  # how to continue after Ctrl-C


COMMANDS = {
    "train": Command(
        TrainOptions,
        train,
        "train a model on a PinScope dataset",
        "finished epochs are in checkpoints/last; continue with --resume",
    ),
    "pretrain-mae": Command(
        MaeOptions, pretrain, "self-supervised ViTMAE pretraining on unlabelled renders (for --init)"
    ),
    "evaluate": Command(EvaluateOptions, evaluate_command, "score a run's checkpoint on validation and test"),
    "attention": Command(AttentionOptions, attention, ATTENTION_HELP, ATTENTION_INTERRUPTED),
    "export": Command(
        ExportOptions, export, "write a checkpoint as model.onnx, checked against torch with onnxruntime"
    ),
    "predict": Command(
        PredictOptions,
        predict,
        "classify new images with a checkpoint: predictions.csv/.jsonl, overlays, index.html",
        "finished batches are in OUT/predictions.jsonl; the same command continues",
    ),
}


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="pinscope_trainer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name, command in COMMANDS.items():
        add_command(sub, name, command.options, command.help)
    return parser


def main(argv=None) -> int:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(name, "1")
    interrupted = ""

    def parse_and_run():
        nonlocal interrupted
        args = build_parser().parse_args(argv)
        command = COMMANDS[args.command]
        interrupted = command.interrupted
        return command.run(from_namespace(command.options, args))

    return run_command(parse_and_run, lambda: interrupted)


if __name__ == "__main__":
    sys.exit(main())
