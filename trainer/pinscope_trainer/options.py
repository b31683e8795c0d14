"""The options dataclasses are the command line: one field is one flag, its metadata says the rest.

    @dataclass(frozen=True)
    class MaeOptions(Options):
        data: str = option(help="dataset folder", required=True)
        lr: float = option(1e-3, "peak learning rate", above=0)

    add_command(subparsers, "pretrain-mae", MaeOptions, help="...")   # the argparse parser, generated
    opts = from_namespace(MaeOptions, args)                            # the dataclass, checked

Why: a flag, its help, choices and bounds are written once, next to the field (as HF
`run_image_classification.py` does with `HfArgumentParser`). The parser only turns text into values;
every check lives in `Options.__post_init__` (the metadata's bounds and choices, then the class's own
`check()` for rules across fields), so a bad value gets the same one-line error whether it came from
the command line, from Python or from a saved run config. The dataclasses are frozen: code that needs
another value makes a new object (`dataclasses.replace`) instead of changing the caller's.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import tempfile
import types
import typing
from dataclasses import MISSING, dataclass
from pathlib import Path

from .errors import UsageError

META = "pinscope_option"


@dataclass(frozen=True)
class Spec:
    """What the command line and the checks need to know about one field."""

    help: str = ""
    flag: str | None = None  # default: --field-name
    choices: tuple | None = None
    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    below: float | None = None
    parse: typing.Callable | None = None  # text -> value; raises ValueError("must be ...")
    negative: str | None = None  # a tri-state bool: --bf16 / --fp32, default None = automatic
    group: str | None = None
    metavar: str | None = None
    required: bool = False
    positional: bool = False  # IMAGES... (one or more)
    affects_result: bool = True  # False: may differ between a run and its resumption
    nested: type | None = None  # a dataclass whose own fields are flags too
    disable: tuple[str, str] | None = None  # (flag, help): build the nested dataclass with .off()


def option(default=MISSING, help: str = "", **spec):
    """A dataclass field that is also a command-line option (see Spec for the keywords)."""
    meta = {META: Spec(help=help, **spec)}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    if dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def nested(cls, group: str, disable: tuple[str, str] | None = None):
    """A field holding another options dataclass, whose fields become flags of the same command."""
    return option(cls(), group=group, nested=cls, disable=disable)


def spec_of(field) -> Spec | None:
    return field.metadata.get(META)


def flag_of(field) -> str:
    spec = spec_of(field)
    if spec and spec.flag:
        return spec.flag
    return field.name if spec and spec.positional else "--" + field.name.replace("_", "-")


def cli_fields(cls) -> list:
    return [f for f in dataclasses.fields(cls) if spec_of(f) is not None]


def base_type(cls, field):
    """int for `int | None`, Path for `Path`, ...; the annotation resolved in its module."""
    hint = typing.get_type_hints(cls)[field.name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        kept = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = kept[0] if len(kept) == 1 else str
    return typing.get_origin(hint) or hint


# --- checks --------------------------------------------------------------------------------------
def bounds_text(spec: Spec) -> str:
    low = f"[{spec.at_least:g}" if spec.at_least is not None else f"({spec.above:g}" if spec.above is not None else ""
    high = f"{spec.at_most:g}]" if spec.at_most is not None else f"{spec.below:g})" if spec.below is not None else ""
    if low and high:
        return f"in {low}, {high}"
    if low:
        return (">= " if low[0] == "[" else "> ") + low[1:]
    return ("<= " if high[-1] == "]" else "< ") + high[:-1] if high else ""


def check_value(flag: str, spec: Spec, kind, value) -> None:
    """Raise UsageError(flag, what is allowed) when `value` breaks the field's choices or bounds."""
    if value is None:
        return
    if spec.choices is not None and value not in spec.choices:
        raise UsageError(flag, f"must be one of {', '.join(map(str, spec.choices))}, got {value!r}")
    if kind not in (int, float):
        return
    words = "a whole number" if kind is int else "a finite number"
    limits = bounds_text(spec)
    allowed = f"{words} {limits}".strip()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and isinstance(value, float)):
        raise UsageError(flag, f"must be {allowed}, got {value!r}")
    if not math.isfinite(value):
        raise UsageError(flag, f"must be {allowed}, got {value}")
    broken = (
        (spec.at_least is not None and value < spec.at_least)
        or (spec.above is not None and value <= spec.above)
        or (spec.at_most is not None and value > spec.at_most)
        or (spec.below is not None and value >= spec.below)
    )
    if broken:
        raise UsageError(flag, f"must be {allowed}, got {value:g}")


class Options:
    """Base of every options dataclass: checks the fields' metadata, then the class's own `check()`."""

    def __post_init__(self):
        for field in cli_fields(type(self)):
            spec = spec_of(field)
            if spec.nested is None:
                check_value(flag_of(field), spec, base_type(type(self), field), getattr(self, field.name))
        self.check()

    def check(self) -> None:
        """Rules across fields (e.g. heads must divide hidden); override where there are some."""

    def comparable(self) -> dict:
        """The fields that change a result, as JSON would store them (for comparing with a saved run)."""
        data = dataclasses.asdict(self)
        kept = {f.name: data[f.name] for f in cli_fields(type(self)) if spec_of(f).affects_result}
        return as_json_values(kept)


def as_json_values(data):
    """Tuples as lists, Paths as strings: how a value looks after a trip through run_config.json."""
    if isinstance(data, dict):
        return {k: as_json_values(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [as_json_values(v) for v in data]
    return str(data) if isinstance(data, Path) else data


def defaults_of(cls) -> dict:
    """{field: default} of the fields that have one (what a run made before a field existed used)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return as_json_values({k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in out.items()})


# --- the parser ----------------------------------------------------------------------------------
class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad command line is one `error: <field>: <problem>` line (see errors.py)."""

    def error(self, message):  # argparse's default prints the whole usage block
        if message.startswith("argument ") and ": " in message:
            field, problem = message[len("argument ") :].split(": ", 1)
            raise UsageError(field.split("/")[-1], problem)
        if message.startswith("the following arguments are required: "):
            missing = message.split(": ", 1)[1].split(", ")
            raise UsageError(missing[0].split("/")[-1], f"required (missing: {', '.join(missing)})")
        raise UsageError(self.prog.split()[-1], message)


def converter(kind, spec: Spec):
    """The argparse `type`: text -> value, with a message saying what is allowed."""
    parse = spec.parse or {int: int, float: float, Path: Path}.get(kind)
    if parse is None:
        return None
    words = {int: "a whole number", float: "a number"}.get(kind, "")

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as err:
            message = str(err) if spec.parse else f"must be {words}, got {text!r}"
            raise argparse.ArgumentTypeError(message) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def help_text(spec: Spec, default) -> str:
    text = spec.help
    if default not in (None, False, "", [], ()) and default is not MISSING and not spec.required:
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        text += f" [default: {shown}]"
    return text.replace("%", "%%")


def add_field(target, cls, field, prefix: str = "") -> None:
    spec, kind = spec_of(field), base_type(cls, field)
    default = field.default if field.default is not MISSING else MISSING
    if field.default_factory is not MISSING:
        default = field.default_factory()
    dest = prefix + field.name
    if spec.positional:
        target.add_argument(dest, nargs="+", metavar=spec.metavar or field.name.upper(), help=spec.help)
        return
    names = {"dest": dest, "help": help_text(spec, default)}
    if kind is bool and spec.negative:
        both = target.add_mutually_exclusive_group()
        both.add_argument(flag_of(field), action="store_const", const=True, default=None, **names)
        both.add_argument(spec.negative, dest=dest, action="store_const", const=False, help=f"not {flag_of(field)}")
    elif kind is bool:
        target.add_argument(flag_of(field), action="store_false" if default else "store_true", **names)
    else:
        shown = flag_of(field)[2:].upper().replace("-", "_")
        metavar = spec.metavar or ("{" + ",".join(map(str, spec.choices)) + "}" if spec.choices else shown)
        target.add_argument(
            flag_of(field),
            type=converter(kind, spec),
            default=None if default is MISSING else default,
            required=spec.required,
            metavar=metavar,
            **names,
        )


def add_command(subparsers, name: str, cls, help: str) -> argparse.ArgumentParser:
    """A subcommand whose flags are `cls`'s fields (nested options dataclasses included)."""
    parser = subparsers.add_parser(name, help=help, description=help)
    add_arguments(parser, cls)
    parser.set_defaults(options_class=cls)
    return parser


def add_arguments(parser: argparse.ArgumentParser, cls) -> None:
    groups: dict[str, argparse._ArgumentGroup] = {}

    def target(group_name):
        if not group_name:
            return parser
        if group_name not in groups:
            groups[group_name] = parser.add_argument_group(group_name)
        return groups[group_name]

    for field in cli_fields(cls):
        spec = spec_of(field)
        if spec.nested is None:
            add_field(target(spec.group), cls, field)
            continue
        for inner in cli_fields(spec.nested):
            add_field(target(spec.group), spec.nested, inner, prefix=f"{field.name}__")
        if spec.disable:
            flag, text = spec.disable
            target(spec.group).add_argument(flag, dest=f"{field.name}__off", action="store_true", help=text)


def from_namespace(cls, args: argparse.Namespace):
    """The options dataclass from parsed arguments (checked by its __post_init__)."""
    values = {}
    for field in cli_fields(cls):
        spec = spec_of(field)
        if spec.nested is None:
            value = getattr(args, field.name)
            values[field.name] = tuple(value) if spec.positional else value
        elif spec.disable and getattr(args, f"{field.name}__off"):
            values[field.name] = spec.nested.off()
        else:
            inner = {f.name: getattr(args, f"{field.name}__{f.name}") for f in cli_fields(spec.nested)}
            values[field.name] = spec.nested(**inner)
    return cls(**values)


# --- parsers for list-like values (each raises ValueError saying what is allowed) ------------------
def int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise ValueError(f"must be comma-separated epoch numbers like 300,400,500, got {text!r}") from None


def image_size(text: str) -> list[int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h < 8 or w < 8:
            raise ValueError
    except ValueError:
        raise ValueError(f"must be HEIGHTxWIDTH in pixels (each >= 8), like 96x288, got {text!r}") from None
    return [h, w]


# --- checks several options classes share ---------------------------------------------------------
def check_output_folder(flag: str, path) -> None:
    """`path` can be (or already is) a folder this process may write into; refuses '' (that would
    write into the current directory), an existing file, and places nobody can write to (/proc/x).

    Tried with a probe folder created and removed at once, because permission bits do not tell (root
    passes every access() check, /proc refuses anyway)."""
    if path is None:
        return
    if not str(path).strip():
        raise UsageError(flag, "must name a folder, got ''")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UsageError(flag, f"{folder} exists and is not a folder")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(flag, f"{existing} is a file, so {folder} cannot be a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".pinscope-probe-", dir=existing))
    except OSError as err:
        raise UsageError(flag, f"cannot create {folder} ({err.strerror} in {existing})") from None
