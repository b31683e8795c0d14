"""PinScope's headless entry: render a dataset from a spec, validate a folder, print the default spec.

Two front doors, one code path:
    <blender-env>/bin/python -m blender_addon.cli render --spec S --out D
    blender --background --factory-startup --python-exit-code 1 --python blender_addon/cli.py -- render --spec S --out D
Inside Blender only the arguments after `--` are read. Bad input (an invalid spec, an unwritable or
foreign --out folder, a bad option) prints one line `error: <field>: <problem>` on stderr and exits 2
before anything already rendered is touched; a finished render exits 0, an interrupted one 130.

The package's modules are imported inside the commands ("lazy" below): run as a script (`blender
--python cli.py`) this file has no package until main() imports it as one, and a command imports only
what it needs (`validate` and `spec` no Blender, `render` Ray only for --executor ray).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (`blender --python .../cli.py`): make the package importable
    _here = Path(__file__).resolve().parent
    for _path in (_here.parent / "shared", _here.parent):
        if _path.is_dir() and str(_path) not in sys.path:
            sys.path.insert(0, str(_path))


class BadInput(Exception):
    """A one-line problem with what the user asked for (maps to exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors follow the same one-line rule
        raise BadInput(f"arguments: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pinscope", description="PinScope headless dataset renderer")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    render = sub.add_parser("render", help="render (or resume) a dataset from a spec")
    render.add_argument("--spec", required=True, help="spec file (.json or .toml)")
    render.add_argument("--out", required=True, help="dataset folder (created, or resumed if it holds this spec)")
    render.add_argument("--quiet", action="store_true", help="no progress bar, no Blender chatter")
    render.add_argument("--limit", type=int, default=None, help="render at most N samples in this run")
    render.add_argument(
        "--progress-jsonl",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="one JSON line per finished sample, to FILE or (without FILE) stdout",
    )
    render.add_argument("--shard", default=None, help="render only shard i/N of the samples (into its own folder)")
    render.add_argument(
        "--skip-done-in", default=None, metavar="DIR", help="skip samples already complete in another dataset folder"
    )
    render.add_argument(
        "--workers", type=int, default=1, help="local worker processes, or Ray tasks with --executor ray (default 1)"
    )
    render.add_argument(
        "--restart-every",
        type=int,
        default=None,
        metavar="K",
        help="with --workers: start a fresh worker process every K samples (bounds memory)",
    )
    render.add_argument(
        "--executor",
        choices=("local", "inline", "processes", "ray"),
        default="local",
        help="inline (this process), processes (--workers local processes), ray (Ray tasks on RAY_ADDRESS or "
        "a local Ray); local (default) = inline for --workers 1, processes for more",
    )
    merge = sub.add_parser("merge", help="combine shard folders (render --shard i/N) into one dataset")
    merge.add_argument("shards", nargs="+", help="the shard folders, one per shard i of N")
    merge.add_argument("--out", required=True, help="the merged dataset folder")
    merge.add_argument("--link", action="store_true", help="hard-link files instead of copying them")
    validate = sub.add_parser("validate", help="check a dataset folder against the contract and its files")
    validate.add_argument("dir")
    validate.add_argument("--no-hashes", action="store_true", help="skip the content hash check (faster)")
    spec_cmd = sub.add_parser("spec", help="print the default spec, or a spec file checked and completed")
    group = spec_cmd.add_mutually_exclusive_group(required=True)
    group.add_argument("--default", action="store_true", help="print the default spec as JSON")
    group.add_argument("file", nargs="?", help="spec file to check and print with all defaults filled in")
    return parser


def blender_argv(argv: list[str]) -> list[str]:
    """Inside Blender only what follows `--` is ours."""
    return argv[argv.index("--") + 1 :] if "--" in argv else []


def _stop_flag():
    """SIGINT/SIGTERM finish the current sample, write the manifest, then stop (resume continues)."""
    state = {"stop": False}

    def handler(signum, frame):
        if state["stop"]:  # a second Ctrl+C: stop now
            raise KeyboardInterrupt
        state["stop"] = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    return lambda: state["stop"]


def make_executor(args):
    """The executor the options ask for: `local` is inline for one worker and processes for more."""
    from .dataset.executors import Inline, Processes  # lazy

    if args.executor == "ray":
        from .dataset.ray_executor import Ray  # lazy

        return Ray(args.workers if args.workers > 1 else None)
    if args.executor == "processes" or (args.executor == "local" and args.workers > 1):
        return Processes(args.workers, restart_every=args.restart_every)
    return Inline()


def cmd_render(args, schema) -> int:
    from .dataset.pipeline import render  # lazy
    from .dataset.worker import EXIT_INTERRUPTED  # lazy

    spec = schema.load_spec(args.spec)
    check_optics(spec)
    if args.workers < 1:
        raise schema.ContractError("--workers", f"must be >= 1, got {args.workers}")
    if args.restart_every is not None and args.restart_every < 1:
        raise schema.ContractError("--restart-every", f"must be >= 1, got {args.restart_every}")
    shard = None
    if args.shard:
        from .dataset.shards import parse_shard  # lazy

        shard = parse_shard(args.shard)
    report = render(
        spec,
        args.out,
        make_executor(args),
        shard=shard,
        skip_done_in=args.skip_done_in,
        limit=args.limit,
        progress_jsonl=args.progress_jsonl,
        should_stop=_stop_flag(),
        quiet=args.quiet,
    )
    if report.stopped:
        print(
            f"interrupted: {report.rendered} samples rendered this run, {report.remaining} left; "
            f"run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"done: {json.dumps(report.summary(), sort_keys=True)}", file=sys.stderr)
    return 0


def cmd_validate(args, schema) -> int:
    problems = schema.validate_dataset(args.dir, check_hashes=not args.no_hashes)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{args.dir}: valid", file=sys.stderr)
    return 1 if problems else 0


def cmd_merge(args, schema) -> int:
    from .dataset.shards import merge  # lazy

    report = merge(args.shards, args.out, link=args.link)
    print(report.summary(), file=sys.stderr)
    return 0


def check_optics(spec) -> None:
    """A part the camera cannot be fitted to is bad input: one line, before anything is written."""
    from .core.optics import optics_for  # the package is importable only once main() has run

    optics_for(spec)


def cmd_spec(args, schema) -> int:
    spec = schema.GenerationSpec() if args.default else schema.load_spec(args.file)
    check_optics(spec)
    print(json.dumps(spec.to_dict(), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    if __package__ in (None, ""):
        import importlib

        package = importlib.import_module(f"{Path(__file__).resolve().parent.name}.cli")
        return package.main(argv)
    from .contract import schema  # lazy
    from .dataset.worker import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED  # lazy

    if argv is None:
        argv = sys.argv[1:]
    try:
        args = build_parser().parse_args(argv)
        commands = {"render": cmd_render, "validate": cmd_validate, "merge": cmd_merge, "spec": cmd_spec}
        return commands[args.command](args, schema)
    except BadInput as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except schema.ContractError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `spec --default | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # disk full, permissions: one line; every finished sample stays valid
        print(f"error: {err}; finished samples are kept: fix this and run the same command to resume", file=sys.stderr)
        return EXIT_FAILED
    except RuntimeError as err:
        from .dataset.pipeline import WorkerFailed  # lazy

        if not isinstance(err, WorkerFailed):  # a worker could not finish its shard; anything else is a bug
            raise
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED


def _in_blender_binary() -> bool:
    try:
        import bpy

        return bool(bpy.app.binary_path) and not bpy.app.binary_path.endswith(("python", "python3"))
    except ImportError:
        return False


if __name__ == "__main__":
    arguments = blender_argv(sys.argv) if ("--" in sys.argv or _in_blender_binary()) else sys.argv[1:]
    sys.exit(main(arguments))
