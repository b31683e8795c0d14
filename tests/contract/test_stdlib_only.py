"""The contract imports in a bare interpreter and pulls in nothing outside the standard library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = r"""
import sys
sys.path.insert(0, {shared!r})
before = set(sys.modules)
import pinscope_schema
from pinscope_schema import jsonschema, validate, io, records, spec, seeds
spec.GenerationSpec().fingerprint()
new = sorted(set(sys.modules) - before)
outside = [m for m in new if m.split('.')[0] not in sys.stdlib_module_names and m.split('.')[0] != 'pinscope_schema']
import json
print(json.dumps({{"outside": outside, "heavy": [m for m in ('numpy', 'bpy', 'torch') if m in sys.modules]}}))
"""


def test_contract_needs_only_the_standard_library():
    code = PROBE.format(shared=str(REPO / "shared"))
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result == {"outside": [], "heavy": []}


def test_generated_json_schema_files_are_current():
    sys.path.insert(0, str(REPO / "shared"))
    from pinscope_schema.jsonschema import SCHEMA_DIR, build_all

    for name, schema in build_all().items():
        committed = json.loads((SCHEMA_DIR / name).read_text())
        assert committed == schema, f"{name} is stale: run: cd shared && python3 -m pinscope_schema.jsonschema --write"
