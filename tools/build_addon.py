"""Build the installable add-on: dist/pinscope-<version>.zip.

The zip holds one folder, `pinscope/`: the blender_addon package (renamed, so a legacy install
imports it as `pinscope` and a 4.2+ extension install as `bl_ext.<repo>.pinscope`) with the dataset
contract vendored as `pinscope/_vendor/pinscope_schema`, so nothing is installed at run time. The
zip is reproducible (sorted entries, fixed timestamps) and is checked with Blender's own extension
validator when one is found next to the running bpy.

    .venvs/blender/bin/python tools/build_addon.py --out dist [--no-validate]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "shared"))  # the contract's atomic writer (a script run from anywhere)
from pinscope_schema.atomic import atomic_file  # noqa: E402

ADDON_SRC = REPO / "blender_addon"
SCHEMA_SRC = REPO / "shared" / "pinscope_schema"
PACKAGE = "pinscope"
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo"}
FIXED_TIME = (2024, 1, 1, 0, 0, 0)  # zip timestamps: the same sources give the same bytes
VENDOR_INIT = '"""Third-party code shipped inside the add-on (no pip at run time)."""\n'


def manifest_version(addon_dir: Path = ADDON_SRC) -> str:
    return tomllib.loads((addon_dir / "blender_manifest.toml").read_text(encoding="utf-8"))["version"]


def _files(root: Path):
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if path.suffix in SKIP_SUFFIXES:
            continue
        yield path, rel


def archive_entries() -> dict[str, Path]:
    """Archive name -> source file, for the add-on and the vendored contract."""
    entries = {f"{PACKAGE}/{rel.as_posix()}": path for path, rel in _files(ADDON_SRC)}
    if any(name.startswith(f"{PACKAGE}/_vendor/") for name in entries):
        raise SystemExit("build_addon: blender_addon/_vendor exists in the source tree; remove it")
    for path, rel in _files(SCHEMA_SRC):
        entries[f"{PACKAGE}/_vendor/pinscope_schema/{rel.as_posix()}"] = path
    return entries


def _write(zf: zipfile.ZipFile, name: str, data: bytes):
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def build(out_dir: Path) -> Path:
    version = manifest_version()
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise SystemExit(f"build_addon: blender_manifest.toml version must be X.Y.Z, got {version!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{PACKAGE}-{version}.zip"
    with atomic_file(target, "wb") as f, zipfile.ZipFile(f, "w") as zf:
        for name, path in sorted(archive_entries().items()):
            _write(zf, name, path.read_bytes())
        _write(zf, f"{PACKAGE}/_vendor/__init__.py", VENDOR_INIT.encode())
    return target


def find_validator() -> Path | None:
    """Blender's extension CLI (blender_ext.py), shipped with the bpy module and with Blender."""
    try:
        import bpy  # noqa: F401  (only to locate the scripts folder)
    except ImportError:
        return None
    import bpy.utils

    for scripts in bpy.utils.script_paths():
        candidate = Path(scripts) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
        if candidate.is_file():
            return candidate
    return None


def validate(zip_path: Path, validator: Path) -> tuple[int, str]:
    result = subprocess.run([sys.executable, str(validator), "validate", str(zip_path)], capture_output=True, text=True)
    return result.returncode, (result.stdout + result.stderr).strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="folder for the zip (default: dist)")
    parser.add_argument("--no-validate", action="store_true", help="skip Blender's extension validator")
    args = parser.parse_args(argv)
    zip_path = build(args.out)
    print(f"built {zip_path} ({zip_path.stat().st_size // 1024} KiB)")
    if args.no_validate:
        return 0
    validator = find_validator()
    if validator is None:
        print(
            "build_addon: Blender's extension validator not found (run with the Blender env's python); "
            "use --no-validate to skip it",
            file=sys.stderr,
        )
        return 2
    code, output = validate(zip_path, validator)
    print(output)
    if code != 0:
        print(f"build_addon: {zip_path} failed Blender's validator", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
