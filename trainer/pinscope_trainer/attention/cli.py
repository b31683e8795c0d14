"""`attention` subcommand: registered by pinscope_trainer.cli, or run alone as
`python -m pinscope_trainer.attention.cli --run RUN [--ckpts 300,400,500|all] ...`.

Bad input: one line `error: <field>: <problem>` on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from .maps import HEAD_FUSIONS
from .runner import METHODS, Settings


def methods_list(text: str) -> tuple:
    chosen = tuple(m.strip() for m in text.split(",") if m.strip())
    wrong = [m for m in chosen if m not in METHODS]
    if not chosen or wrong:
        raise argparse.ArgumentTypeError(f"must be a comma-separated subset of {','.join(METHODS)}, got {text!r}")
    return chosen


def ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}")
    return value


def count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return int(text)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run folder (RUN/checkpoints/epoch-NNNN, best, last)")
    p.add_argument(
        "--ckpts",
        default="",
        help="epochs like 300,400,500, 'best', 'last' or 'all' "
        "(default: up to 5 numbered checkpoints spread over the run)",
    )
    p.add_argument("--out", help="report folder (default reports/<run name>/attention)")
    p.add_argument("--methods", type=methods_list, default=METHODS, help=f"subset of {','.join(METHODS)}")
    p.add_argument("--samples", type=count, default=12, help="samples in the pictures (plus the worst cases)")
    p.add_argument("--data", help="dataset folder (default: the one named in RUN/run_config.json)")
    p.add_argument("--split", choices=("test", "validation", "train"), default="test")
    p.add_argument("--fusion", choices=HEAD_FUSIONS, default="mean", help="rollout head fusion")
    p.add_argument("--discard", type=ratio, default=0.0, help="rollout: share of weakest links dropped per layer")
    p.add_argument("--tolerance", type=float, default=0.0, help="pointing game: pixels the defect box is grown by")
    p.add_argument("--limit", type=count, default=0, help="score only the first N samples of the split (0 = all)")
    p.add_argument("--batch-size", type=count, default=8)
    p.add_argument("--seed", type=int, default=0, help="seed of the fixed sample set in the pictures")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `attention` on the trainer CLI's subparsers; the handler is args.func."""
    p = subparsers.add_parser("attention", help="attention maps over checkpoints, scored against the masks")
    add_arguments(p)
    p.set_defaults(func=handle)
    return p


def handle(args) -> int:
    from .build import run

    if args.batch_size < 1:
        raise UsageError("--batch-size", f"must be >= 1, got {args.batch_size}")
    settings = Settings(
        run=Path(args.run),
        ckpts=args.ckpts,
        out=Path(args.out) if args.out else None,
        methods=args.methods,
        samples=args.samples,
        data=Path(args.data) if args.data else None,
        fusion=args.fusion,
        discard=args.discard,
        batch_size=args.batch_size,
        tolerance=args.tolerance,
        limit=args.limit,
        seed=args.seed,
        split=args.split,
    )
    run(settings)
    return 0


def main(argv=None) -> int:
    import os

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(name, "1")

    class OneLineParser(argparse.ArgumentParser):
        def error(self, message):
            raise UsageError("attention", message)

    parser = OneLineParser(prog="pinscope_trainer.attention", description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        return handle(parser.parse_args(argv))
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished checkpoints are kept in OUT/cache; run again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
