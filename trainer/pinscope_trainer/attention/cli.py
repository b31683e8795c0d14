"""`attention` subcommand: registered by pinscope_trainer.cli, or run alone as
`python -m pinscope_trainer.attention.cli --run RUN [--ckpts 300,400,500|all] ...`.

The flags are AttentionOptions' fields (runner.py); bad input is one line `error: <field>: <problem>`
on stderr and exit code 2 (errors.run_command).
"""

from __future__ import annotations

import os
import sys

from ..errors import run_command
from ..options import OneLineParser, add_arguments, from_namespace
from .build import run
from .runner import AttentionOptions

HELP = "attention maps over checkpoints, scored against the masks"
INTERRUPTED = "finished checkpoints are kept in OUT/cache; run again to resume"


def main(argv=None) -> int:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(name, "1")
    parser = OneLineParser(prog="pinscope_trainer.attention", description=HELP)
    add_arguments(parser, AttentionOptions)
    return run_command(lambda: run(from_namespace(AttentionOptions, parser.parse_args(argv))), INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
