"""JSON Schema (draft 2020-12) files generated from the record fields, for non-Python readers.

`python -m pinscope_schema.jsonschema --write` regenerates `schema/*.json`; a test checks the
committed files match, so the language-neutral schema can never drift from the Python contract.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

from .atomic import write_json_atomic
from .fields import default_of
from .records import FILE_PATTERN, RELATIVE_PATH_GUARD, Manifest, ReferenceRow, SampleRow
from .spec import GenerationSpec

SCHEMA_DIR = Path(__file__).with_name("schema")
ROOTS = {
    "spec.schema.json": GenerationSpec,
    "row.schema.json": SampleRow,
    "reference_row.schema.json": ReferenceRow,
    "manifest.schema.json": Manifest,
}


def _value_schema(meta: dict) -> dict:
    kind = meta["kind"]
    if kind in ("int", "float"):
        out = {"type": "integer" if kind == "int" else "number", "minimum": meta["lo"], "maximum": meta["hi"]}
        return {"oneOf": [out, {"type": "null"}]} if meta.get("nullable") else out
    if kind == "enum":
        return {"enum": list(meta["choices"])}
    if kind == "str":
        out = {"type": "string", "maxLength": meta["max_len"]}
        if meta.get("relative_path"):  # '' (no such file) is allowed where the field is optional
            body = RELATIVE_PATH_GUARD + (meta["pattern"] or FILE_PATTERN)
            out["pattern"] = f"^(?:{body})$" if meta.get("required") else f"^(?:(?:{body})?)$"
        elif meta["pattern"]:
            out["pattern"] = f"^(?:{meta['pattern']})$"
        return out
    if kind == "bool":
        return {"type": "boolean"}
    if kind == "color":
        return {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "minItems": 3, "maxItems": 3}
    if kind == "nested":
        return record_schema(meta["cls"])
    if kind == "nested_list":
        return {
            "type": "array",
            "items": record_schema(meta["cls"]),
            "minItems": meta["min_items"],
            "maxItems": meta["max_items"],
        }
    if kind == "int_list":
        arr = {
            "type": "array",
            "items": {"type": "integer", "minimum": meta["lo"], "maximum": meta["hi"]},
            "minItems": min(meta["lengths"]),
            "maxItems": max(meta["lengths"]),
        }
        return {"oneOf": [arr, {"type": "null"}]} if meta["nullable"] else arr
    if kind == "box_list":
        return {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "minItems": 4, "maxItems": 4}}
    if kind == "matrix":
        row = {"type": "array", "items": {"type": "number"}, "minItems": meta["cols"], "maxItems": meta["cols"]}
        full = {"type": "array", "items": row, "minItems": meta["rows"], "maxItems": meta["rows"]}
        return {"oneOf": [full, {"type": "array", "maxItems": 0}]}
    if kind == "index_list":
        item = {"type": "integer", "minimum": meta["lo"], "maximum": meta["hi"]}
        return {"type": "array", "items": item, "maxItems": meta["max_items"]}
    if kind == "span":
        item = {"type": "number", "minimum": meta["lo"], "maximum": meta["hi"]}
        return {"oneOf": [{"type": "array", "items": item, "minItems": 2, "maxItems": 2}, {"type": "null"}]}
    if kind == "choice_list":
        return {"type": "array", "items": {"enum": list(meta["choices"])}, "uniqueItems": True}
    if kind == "number_map":
        return {"type": "object", "additionalProperties": {"type": "number"}}
    if kind == "text_map":
        return {"type": "object", "additionalProperties": {"type": "string"}}
    return {}


def record_schema(cls) -> dict:
    props, required = {}, []
    for f in fields(cls):
        schema = _value_schema(f.metadata)
        schema["description"] = f.metadata["doc"]
        if f.metadata.get("unit") == "LENGTH":
            schema["x-unit"] = "mm"  # every length of the contract is in millimetres
        if f.metadata["kind"] != "nested":
            default = default_of(f)
            if f.metadata["kind"] == "nested_list":
                default = [d.to_dict() for d in default]
            schema["default"] = default
        props[f.name] = schema
        if f.metadata.get("required"):
            required.append(f.name)
    out = {"type": "object", "title": cls.__name__, "properties": props, "additionalProperties": False}
    if cls.__doc__:
        out["description"] = " ".join(cls.__doc__.split())
    if required:
        out["required"] = required
    return out


def build_all() -> dict[str, dict]:
    out = {}
    for name, cls in ROOTS.items():
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"pinscope/{name}"}
        schema.update(record_schema(cls))
        out[name] = schema
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    schemas = build_all()
    if "--write" in argv:
        SCHEMA_DIR.mkdir(exist_ok=True)
        for name, schema in schemas.items():
            write_json_atomic(SCHEMA_DIR / name, schema)
        print(f"wrote {len(schemas)} schema files to {SCHEMA_DIR}")
    else:
        print(json.dumps(schemas, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
