"""`python -m pinscope_schema.export --format coco|yolo|mvtec|anomalib-csv DATA OUT`: see docs/exports.md.

The parser is made from ExportOptions' fields (one options dataclass, one command line). Bad input
prints one line `error: <field>: <problem>` on stderr and exits 2 before anything is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from .exports import ExportOptions, run_export
from .fields import ContractError

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints the whole usage block
        if message.startswith("argument ") and ": " in message:
            where, problem = message[len("argument ") :].split(": ", 1)
            raise ContractError(where.split("/")[-1], problem)
        if message.startswith("the following arguments are required: "):
            missing = message.split(": ", 1)[1]
            raise ContractError(missing.split(", ")[0], f"required (missing: {missing})")
        raise ContractError("export", message)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m pinscope_schema.export", description=__doc__.splitlines()[0])
    for f in dataclasses.fields(ExportOptions):
        flag, help_text = f.metadata["flag"], f.metadata["help"]
        if f.type in (bool, "bool"):
            parser.add_argument(flag, dest=f.name, action="store_true", help=help_text)
        elif flag.startswith("--"):
            parser.add_argument(flag, dest=f.name, required=True, help=help_text)  # checked in plan_export
        else:
            parser.add_argument(f.name, metavar=flag, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        opts = ExportOptions(**vars(build_parser().parse_args(argv)))
        summary = run_export(opts)
    except ContractError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: run the same command again to continue the export", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as err:  # disk full, permissions: every file already in OUT is whole
        print(f"error: {err}; files already exported are whole: fix this and run the same command", file=sys.stderr)
        return EXIT_FAILED
    if summary["complete"] == "already":
        print(f"{summary['out']}: this {summary['format']} export is complete; nothing to do")
    else:
        print(
            f"exported {summary['samples']} samples to {summary['out']} ({summary['format']}; "
            f"{summary['written']} written, {summary['skipped']} already there)"
            + (f": {', '.join(summary['files'])}" if summary["files"] else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
