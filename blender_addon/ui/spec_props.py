"""Plan Blender properties from the contract's field metadata, and copy values both ways.

No bpy here. Every spec field is a dataclass field whose metadata says its kind, range, choices
and doc (shared/pinscope_schema/fields.py). `plan_record(cls)` turns those into property plans
(which `bpy.props` function, with which keyword arguments); ui/properties.py only calls them. The
copy functions are duck-typed over anything with attributes and `add()`/`clear()` collections, so
the same code fills a Blender PropertyGroup and reads it back. Adding a spec field therefore needs
no UI change: it gets a property, a place in its panel and a round-trip from this one table.
"""

from __future__ import annotations

import struct
from dataclasses import MISSING, dataclass, fields

# Fields the panel keeps as properties but does not draw (the file format's own bookkeeping).
HIDDEN_FIELDS = frozenset({"schema_version"})
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class PropPlan:
    """One Blender property: `factory` names the bpy.props function, `options` its arguments."""

    name: str
    factory: str
    options: dict
    field: str  # the spec field this property serves (a field may need two properties)
    role: str = "value"  # value | random (the "null" switch of a nullable list) | index (UIList cursor)
    child: type | None = None  # nested record class for Pointer/Collection properties


def label_for(f) -> str:
    return f.metadata.get("ui") or f.name.replace("_", " ").capitalize()


def default_for(f):
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


def _item_label(choice: str) -> str:
    return choice.replace("_", " ").title() if choice.islower() else choice.capitalize()


def plan_field(f, owner: str = "") -> list[PropPlan]:
    """The properties one spec field needs. Raises TypeError for a kind the panel cannot edit yet."""
    meta, name = f.metadata, f.name
    base = dict(name=label_for(f), description=meta.get("doc", ""))
    kind = meta["kind"]
    default = default_for(f)
    if kind == "int":
        lo, hi = meta["lo"], meta["hi"]
        if lo < -INT32_MAX - 1 or hi > INT32_MAX:
            raise TypeError(f"{owner}.{name}: range {lo}..{hi} does not fit a Blender integer property")
        return [PropPlan(name, "IntProperty", dict(base, default=default, min=lo, max=hi), name)]
    if kind == "float":
        unit = meta.get("unit") or "NONE"
        opts = dict(base, default=default, min=meta["lo"], max=meta["hi"], unit=unit, precision=3)
        return [PropPlan(name, "FloatProperty", opts, name)]
    if kind == "enum":
        items = tuple((c, _item_label(c), "") for c in meta["choices"])
        return [PropPlan(name, "EnumProperty", dict(base, items=items, default=default), name)]
    if kind == "str":
        # Blender's maxlen counts the terminating NUL byte.
        return [PropPlan(name, "StringProperty", dict(base, default=default, maxlen=meta["max_len"] + 1), name)]
    if kind == "bool":
        return [PropPlan(name, "BoolProperty", dict(base, default=default), name)]
    if kind == "color":
        opts = dict(base, default=tuple(default), size=3, min=0.0, max=1.0, subtype="COLOR")
        return [PropPlan(name, "FloatVectorProperty", opts, name)]
    if kind == "nested":
        return [PropPlan(name, "PointerProperty", base, name, child=meta["cls"])]
    if kind == "nested_list":
        index = PropPlan(f"{name}_index", "IntProperty", dict(name="Active", default=0, min=0), name, "index")
        return [PropPlan(name, "CollectionProperty", base, name, child=meta["cls"]), index]
    if kind == "int_list" and len(meta["lengths"]) == 1:
        return _int_vector_plans(f, base, default)
    if kind == "span":
        return _span_plans(f, base, default)
    if kind == "choice_list":
        items = tuple((c, _item_label(c), "") for c in meta["choices"])
        opts = dict(base, items=items, default=set(default or ()), options={"ENUM_FLAG"})
        return [PropPlan(name, "EnumProperty", opts, name)]
    raise TypeError(f"{owner}.{name}: field kind {kind!r} has no panel mapping (add one in ui/spec_props.py)")


def _int_vector_plans(f, base, default) -> list[PropPlan]:
    """A fixed-size integer list; a nullable one gets a "Random ..." switch that stands for null."""
    meta, name = f.metadata, f.name
    size, lo = meta["lengths"][0], meta["lo"]
    vector_default = tuple(default) if default is not None else (lo,) * size
    opts = dict(base, default=vector_default, size=size, min=lo, max=meta["hi"])
    plans = [PropPlan(name, "IntVectorProperty", opts, name)]
    if meta["nullable"]:
        random = dict(
            name=f"Random {label_for(f).lower()}",
            default=default is None,
            description=f"Leave {name} unset (null): {meta.get('doc', '')}",
        )
        plans.insert(0, PropPlan(f"{name}_random", "BoolProperty", random, name, "random"))
    return plans


def _span_plans(f, base, default) -> list[PropPlan]:
    """A [low, high] range drawn per shot, with a "Draw ..." switch (off = null: not drawn)."""
    meta, name = f.metadata, f.name
    lo, hi = meta["lo"], meta["hi"]
    low, high = default if default is not None else (lo, lo)
    opts = dict(base, default=(low, high), size=2, min=lo, max=hi, precision=3)
    drawn = dict(
        name=f"Draw {label_for(f).lower()}",
        default=default is not None,
        description=f"Draw {name} per shot from the range (off: not drawn). {meta.get('doc', '')}",
    )
    return [
        PropPlan(f"{name}_drawn", "BoolProperty", drawn, name, "drawn"),
        PropPlan(name, "FloatVectorProperty", opts, name),
    ]


def plan_record(cls) -> list[PropPlan]:
    """All properties of one record class, in field order."""
    return [plan for f in fields(cls) for plan in plan_field(f, cls.__name__)]


def record_classes(root) -> list[type]:
    """Every record class reachable from `root`, children before parents (registration order)."""
    order: list[type] = []

    def visit(cls):
        for f in fields(cls):
            child = f.metadata.get("cls")
            if child is not None and child not in order:
                visit(child)
        if cls not in order:
            order.append(cls)

    visit(root)
    return order


def float32_decimal(value: float) -> float:
    """The shortest decimal that a 32-bit float property stores as `value`.

    Blender float properties are 32-bit, so 4.09 comes back as 4.090000152587891. Reading it back
    as 4.09 keeps spec -> panel -> spec exact (and the spec fingerprint with it) for every value of
    up to 7 significant digits.
    """
    stored = struct.pack("<f", value)
    as_float32 = struct.unpack("<f", stored)[0]
    for digits in range(1, 10):
        candidate = float(f"{as_float32:.{digits}g}")
        if struct.pack("<f", candidate) == stored:
            return candidate
    return as_float32


def record_to_props(record, group) -> None:
    """Copy a spec record (dataclass) into a property group."""
    for f in fields(record):
        kind, value = f.metadata["kind"], getattr(record, f.name)
        if kind == "nested":
            record_to_props(value, getattr(group, f.name))
        elif kind == "nested_list":
            collection = getattr(group, f.name)
            collection.clear()
            for item in value:
                record_to_props(item, collection.add())
            setattr(group, f"{f.name}_index", 0)
        elif kind == "int_list" and f.metadata["nullable"]:
            setattr(group, f"{f.name}_random", value is None)
            if value is not None:
                setattr(group, f.name, tuple(value))
        elif kind in ("color", "int_list"):
            setattr(group, f.name, tuple(value))
        elif kind == "span":
            setattr(group, f"{f.name}_drawn", value is not None)
            if value is not None:
                setattr(group, f.name, tuple(value))
        elif kind == "choice_list":
            setattr(group, f.name, set(value))
        else:
            setattr(group, f.name, value)


def fill_empty_lists(group, cls) -> None:
    """Give every empty list property its spec default items (a new group's lists start empty,
    while its plain properties already hold the spec defaults)."""
    for f in fields(cls):
        kind = f.metadata["kind"]
        if kind == "nested":
            fill_empty_lists(getattr(group, f.name), f.metadata["cls"])
        elif kind == "nested_list":
            collection = getattr(group, f.name)
            if len(collection) == 0:
                for item in default_for(f):
                    record_to_props(item, collection.add())
            for item in collection:
                fill_empty_lists(item, f.metadata["cls"])


def props_to_data(group, cls) -> dict:
    """Read a property group back into the JSON data of record class `cls` (not yet validated)."""
    data = {}
    for f in fields(cls):
        kind, value = f.metadata["kind"], getattr(group, f.name)
        if kind == "nested":
            data[f.name] = props_to_data(value, f.metadata["cls"])
        elif kind == "nested_list":
            data[f.name] = [props_to_data(item, f.metadata["cls"]) for item in value]
        elif kind == "int_list":
            random = f.metadata["nullable"] and getattr(group, f"{f.name}_random")
            data[f.name] = None if random else [int(v) for v in value]
        elif kind == "float":
            data[f.name] = float32_decimal(value)
        elif kind == "color":
            data[f.name] = [float32_decimal(c) for c in value]
        elif kind == "span":
            drawn = getattr(group, f"{f.name}_drawn")
            data[f.name] = [float32_decimal(v) for v in value] if drawn else None
        elif kind == "choice_list":
            data[f.name] = [c for c in f.metadata["choices"] if c in value]  # the contract's order
        elif kind == "int":
            data[f.name] = int(value)
        elif kind == "bool":
            data[f.name] = bool(value)
        else:
            data[f.name] = value
    return data


def props_to_record(group, cls):
    """Read and validate: raises the contract's one-line ContractError on a bad value."""
    return cls.from_dict(props_to_data(group, cls))
