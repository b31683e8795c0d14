"""The add-on zip: layout, vendored contract, versions, reproducibility and Blender's own validator."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import build_addon  # noqa: E402


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    return build_addon.build(tmp_path_factory.mktemp("dist"))


def test_zip_is_one_pinscope_folder_with_the_contract_vendored(built_zip):
    names = zipfile.ZipFile(built_zip).namelist()
    assert built_zip.name == f"pinscope-{build_addon.manifest_version()}.zip"
    assert {n.split("/")[0] for n in names} == {"pinscope"}
    for required in (
        "pinscope/__init__.py",
        "pinscope/blender_manifest.toml",
        "pinscope/contract.py",
        "pinscope/ui/properties.py",
        "pinscope/_vendor/__init__.py",
        "pinscope/_vendor/pinscope_schema/spec.py",
        "pinscope/_vendor/pinscope_schema/__init__.py",
    ):
        assert required in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/." in n]


def test_build_is_reproducible(built_zip, tmp_path):
    assert build_addon.build(tmp_path).read_bytes() == built_zip.read_bytes()


def test_blenders_extension_validator_accepts_the_zip(built_zip):
    validator = build_addon.find_validator()
    assert validator is not None, "blender_ext.py not found next to the bpy module"
    code, output = build_addon.validate(built_zip, validator)
    assert code == 0, output
    assert "Success" in output


def test_manifest_and_bl_info_agree():
    manifest = tomllib.loads((REPO / "blender_addon" / "blender_manifest.toml").read_text())
    tree = ast.parse((REPO / "blender_addon" / "__init__.py").read_text())
    bl_info = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and node.targets[0].id == "bl_info"
    )
    assert ".".join(map(str, bl_info["version"])) == manifest["version"]
    assert manifest["id"] == "pinscope" and len(manifest["tagline"]) <= 64
    assert not manifest["tagline"].endswith(".")
    assert "files" in manifest["permissions"]
    assert tuple(int(p) for p in manifest["blender_version_min"].split(".")) == bl_info["blender"]


def test_package_imports_without_bpy():
    """`import blender_addon` (and its contract shim) must work in a Python that has no bpy."""
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import blender_addon; "
        "from blender_addon.contract import schema; from blender_addon.ui import spec_props, jobs; "
        "assert 'bpy' not in sys.modules; spec_props.plan_record(schema.GenerationSpec); print('ok')"
    )
    result = subprocess.run(
        ["python3", "-I", "-c", code, str(REPO), str(REPO / "shared")], capture_output=True, text=True
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_make_addon_command_builds_into_the_given_folder(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_addon.py"), "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / f"pinscope-{build_addon.manifest_version()}.zip").is_file()
