"""Declarative record fields.

One description per field drives parsing, validation, serialisation, the JSON Schema files and the
Blender panel's properties, so adding a field is one change. Standard library only: this module is
imported by Blender's Python, by the trainer and by `python3 -I`.
"""

from __future__ import annotations

import math
import re
from dataclasses import MISSING, field, fields, is_dataclass
from typing import Any


class ContractError(ValueError):
    """A value broke the dataset contract. `str(err)` is one line: `<field path>: <what is wrong>`."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


def join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def show(value: Any) -> str:
    """A short, unambiguous rendering of a bad value for error messages."""
    try:
        text = repr(value) if isinstance(value, str) else _json_like(value)
    except (RecursionError, ValueError):  # nested too deeply, or an int too long to print
        return f"{type_name(value)} too large to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _json_like(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return repr(value)


def type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


# --- field constructors -------------------------------------------------------------------------
# Each returns a dataclasses.field whose metadata says how to check and describe the value.


def integer(default, lo, hi, doc, **extra):
    return field(default=default, metadata=dict(kind="int", lo=lo, hi=hi, doc=doc, **extra))


def number(default, lo, hi, doc, unit="", **extra):
    return field(default=default, metadata=dict(kind="float", lo=lo, hi=hi, doc=doc, unit=unit, **extra))


def choice(default, choices, doc, **extra):
    return field(default=default, metadata=dict(kind="enum", choices=tuple(choices), doc=doc, **extra))


def text(default, doc, pattern=None, max_len=4096, **extra):
    return field(default=default, metadata=dict(kind="str", pattern=pattern, max_len=max_len, doc=doc, **extra))


def flag(default, doc, **extra):
    return field(default=default, metadata=dict(kind="bool", doc=doc, **extra))


def color(default, doc, **extra):
    """An RGB triple of floats in 0..1."""
    return field(default_factory=lambda: list(default), metadata=dict(kind="color", doc=doc, **extra))


def nested(cls, doc, **extra):
    return field(default_factory=cls, metadata=dict(kind="nested", cls=cls, doc=doc, **extra))


def nested_list(cls, default_factory, doc, min_items=1, max_items=64, **extra):
    meta = dict(kind="nested_list", cls=cls, min_items=min_items, max_items=max_items, doc=doc, **extra)
    return field(default_factory=default_factory, metadata=meta)


def int_list(default, lo, hi, doc, lengths=(2,), nullable=False, **extra):
    """A short list of integers, e.g. a pin position [col, row]; `lengths` lists the allowed sizes."""
    meta = dict(kind="int_list", lo=lo, hi=hi, lengths=tuple(lengths), nullable=nullable, doc=doc, **extra)
    if default is None or isinstance(default, (int, float)):
        return field(default=default, metadata=meta)
    return field(default_factory=lambda: list(default), metadata=meta)


def box_list(doc, **extra):
    """A list of pixel boxes [x0, y0, x1, y1] (x1/y1 exclusive)."""
    return field(default_factory=list, metadata=dict(kind="box_list", doc=doc, **extra))


def number_map(doc, **extra):
    """An object of name -> number (e.g. the jitter values a sample actually used)."""
    return field(default_factory=dict, metadata=dict(kind="number_map", doc=doc, **extra))


def text_map(doc, **extra):
    return field(default_factory=dict, metadata=dict(kind="text_map", doc=doc, **extra))


def matrix(rows: int, cols: int, doc, **extra):
    """A rows x cols matrix of numbers as a list of rows, or [] when unknown (rows written before it existed)."""
    return field(default_factory=list, metadata=dict(kind="matrix", rows=rows, cols=cols, doc=doc, **extra))


def index_list(lo: int, hi: int, doc, max_items: int = 4096, **extra):
    """A list of any length (up to max_items) of integers lo..hi, e.g. pin indices."""
    meta = dict(kind="index_list", lo=lo, hi=hi, max_items=max_items, doc=doc, **extra)
    return field(default_factory=list, metadata=meta)


def span(lo: float, hi: float, doc, **extra):
    """A range [low, high] of numbers within lo..hi that something is drawn from per shot, or null: not drawn
    (the base spec's value is used)."""
    return field(default=None, metadata=dict(kind="span", lo=lo, hi=hi, doc=doc, **extra))


def choice_list(choices, doc, **extra):
    """A list of distinct choices (may be empty), e.g. the lighting presets drawn from per shot."""
    return field(default_factory=list, metadata=dict(kind="choice_list", choices=tuple(choices), doc=doc, **extra))


def any_value(doc, **extra):
    """Free-form JSON (used only where another record validates the content)."""
    return field(default_factory=dict, metadata=dict(kind="any", doc=doc, **extra))


# --- parsing -----------------------------------------------------------------------------------


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _range_text(lo, hi, what):
    return f"must be {what} {lo}..{hi}"


def parse_value(meta: dict, value: Any, path: str) -> Any:
    kind = meta["kind"]
    if kind == "int":
        if value is None and meta.get("nullable"):
            return None
        if not _is_int(value) or not meta["lo"] <= value <= meta["hi"]:
            raise ContractError(path, f"{_range_text(meta['lo'], meta['hi'], 'an integer')}, got {show(value)}")
        return value
    if kind == "float":
        if value is None and meta.get("nullable"):
            return None
        if not _is_number(value) or not meta["lo"] <= value <= meta["hi"]:
            raise ContractError(path, f"{_range_text(meta['lo'], meta['hi'], 'a number')}, got {show(value)}")
        return float(value)
    if kind == "enum":
        if value not in meta["choices"]:
            raise ContractError(path, f"must be one of {', '.join(meta['choices'])}; got {show(value)}")
        return value
    if kind == "str":
        if not isinstance(value, str) or len(value) > meta["max_len"]:
            raise ContractError(path, f"must be a string of at most {meta['max_len']} characters, got {show(value)}")
        if meta["pattern"] and not re.fullmatch(meta["pattern"], value):
            raise ContractError(path, f"must match {meta['pattern']}, got {show(value)}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ContractError(path, f"must be true or false, got {show(value)}")
        return value
    if kind == "color":
        if not isinstance(value, list) or len(value) != 3 or not all(_is_number(c) and 0 <= c <= 1 for c in value):
            raise ContractError(path, f"must be an RGB list of 3 numbers 0..1, got {show(value)}")
        return [float(c) for c in value]
    if kind == "any":
        return value
    if kind == "span":
        return _parse_span(meta, value, path)
    if kind == "choice_list":
        return _parse_choice_list(meta, value, path)
    return _parse_collection(meta, value, path)


def _parse_choice_list(meta: dict, value: Any, path: str) -> list:
    ok = isinstance(value, list) and all(v in meta["choices"] for v in value) and len(set(value)) == len(value)
    if not ok:
        raise ContractError(
            path, f"must be a list of distinct choices from {', '.join(meta['choices'])}, got {show(value)}"
        )
    return list(value)


def _parse_collection(meta: dict, value: Any, path: str) -> Any:
    """parse_value for the kinds that hold other values: records, lists and maps."""
    kind = meta["kind"]
    if kind == "nested":
        return _parse_nested(meta["cls"], value, path)
    if kind == "nested_list":
        if not isinstance(value, list) or not meta["min_items"] <= len(value) <= meta["max_items"]:
            raise ContractError(
                path, f"must be a list of {meta['min_items']}..{meta['max_items']} objects, got {show(value)}"
            )
        return [_parse_nested(meta["cls"], item, join(path, i)) for i, item in enumerate(value)]
    if kind == "int_list":
        if value is None and meta["nullable"]:
            return None
        lengths = meta["lengths"]
        ok = isinstance(value, list) and len(value) in lengths
        ok = ok and all(_is_int(v) and meta["lo"] <= v <= meta["hi"] for v in value)
        if not ok:
            size = " or ".join(str(n) for n in lengths)
            null = " or null" if meta["nullable"] else ""
            raise ContractError(
                path, f"must be a list of {size} integers {meta['lo']}..{meta['hi']}{null}, got {show(value)}"
            )
        return list(value)
    if kind == "box_list":
        if not isinstance(value, list):
            raise ContractError(path, f"must be a list of [x0, y0, x1, y1] boxes, got {show(value)}")
        for i, box in enumerate(value):
            check_box(box, join(path, i))
        return [list(b) for b in value]
    if kind == "number_map":
        if not isinstance(value, dict) or not all(isinstance(k, str) and _is_number(v) for k, v in value.items()):
            raise ContractError(path, f"must be an object of name -> number, got {show(value)}")
        return dict(value)
    if kind == "text_map":
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ContractError(path, f"must be an object of name -> string, got {show(value)}")
        return dict(value)
    if kind == "matrix":
        return _parse_matrix(meta, value, path)
    if kind == "index_list":
        ok = isinstance(value, list) and len(value) <= meta["max_items"]
        if not ok or not all(_is_int(v) and meta["lo"] <= v <= meta["hi"] for v in value):
            raise ContractError(
                path,
                f"must be a list of at most {meta['max_items']} integers {meta['lo']}..{meta['hi']}, got {show(value)}",
            )
        return list(value)
    raise AssertionError(f"unknown field kind {kind}")


def _parse_span(meta, value, path):
    if value is None:
        return None
    lo, hi = meta["lo"], meta["hi"]
    if not isinstance(value, list) or len(value) != 2 or not all(_is_number(v) for v in value):
        raise ContractError(path, f"must be [low, high] (two numbers {lo}..{hi}) or null, got {show(value)}")
    low, high = float(value[0]), float(value[1])
    if low > high:
        raise ContractError(path, f"low {low:g} is above high {high:g}: must be [low, high] with low <= high")
    if low < lo or high > hi:
        raise ContractError(path, f"must lie within {lo}..{hi}, got [{low:g}, {high:g}]")
    return [low, high]


def _parse_matrix(meta, value, path):
    rows, cols = meta["rows"], meta["cols"]
    if value == []:
        return []
    ok = isinstance(value, list) and len(value) == rows
    ok = ok and all(isinstance(r, list) and len(r) == cols and all(_is_number(v) for v in r) for r in value)
    if not ok:
        raise ContractError(
            path, f"must be a {rows} x {cols} matrix (a list of {rows} rows of {cols} numbers) or [], got {show(value)}"
        )
    return [[float(v) for v in r] for r in value]


def _parse_nested(cls, value, path):
    # Records may override from_dict (e.g. to report a newer schema_version before anything else).
    if hasattr(cls, "from_dict"):
        return cls.from_dict(value, path)
    return parse_record(cls, value, path)


def check_box(box: Any, path: str) -> list:
    ok = isinstance(box, list) and len(box) == 4 and all(_is_int(v) for v in box)
    if not ok or box[2] < box[0] or box[3] < box[1]:
        raise ContractError(path, f"must be a pixel box [x0, y0, x1, y1] with x0<=x1, y0<=y1, got {show(box)}")
    return box


def parse_record(cls, data: Any, path: str):
    """Build dataclass `cls` from JSON data, checking every field and rejecting unknown keys."""
    if not isinstance(data, dict):
        raise ContractError(path, f"must be an object, got {type_name(data)}")
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ContractError(join(path, key), f"unknown field; allowed: {', '.join(known)}")
    kwargs = {}
    for name, f in known.items():
        if name in data:
            kwargs[name] = parse_value(f.metadata, data[name], join(path, name))
        elif f.metadata.get("required"):
            raise ContractError(join(path, name), "is required")
    record = cls(**kwargs)
    check = getattr(record, "check", None)
    if check is not None:
        check(path)
    return record


def dump_record(record, stable: bool = False) -> dict:
    """Plain JSON data of a record. `stable=True` leaves out fields added in a later revision of the
    contract (metadata `since` > 1) while they hold their default: what a record meant before such a
    field existed then dumps -- and hashes -- exactly as it did, so old folders keep their spec hash."""
    out = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if stable and f.metadata.get("since", 1) > 1 and value == default_of(f):
            continue
        out[f.name] = _dump_value(value, stable)
    return out


def _dump_value(value, stable: bool = False):
    if is_dataclass(value):
        return dump_record(value, stable)
    if isinstance(value, list):
        return [_dump_value(v, stable) for v in value]
    if isinstance(value, dict):
        return {k: _dump_value(v, stable) for k, v in value.items()}
    return value


def default_of(f):
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


class Record:
    """Mixin: `from_dict` validates, `to_dict` gives plain JSON data. `PATH` names the root in errors."""

    PATH = "record"

    @classmethod
    def from_dict(cls, data: Any, path: str | None = None):
        return parse_record(cls, data, cls.PATH if path is None else path)

    def to_dict(self) -> dict:
        return dump_record(self)

    def validate(self, path: str | None = None):
        """Re-check a record built in code (e.g. by the renderer) exactly as if it had been read."""
        return type(self).from_dict(self.to_dict(), path)
