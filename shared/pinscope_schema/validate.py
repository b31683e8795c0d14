"""Check a dataset folder against the contract and the files on disk.

`validate_dataset` returns problems one per line (empty list = valid). It is the one place that knows
what a valid folder is; the renderer's `validate` command, the trainer's loader and the tests use it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .fields import ContractError
from .io import MANIFEST, METADATA, REFERENCE, file_digest, read_manifest, scan_rows
from .records import ReferenceRow, SampleRow
from .spec import SPLITS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".exr", ".npy")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def validate_dataset(
    root, check_hashes: bool = True, require_complete: bool = True, max_problems: int = 200
) -> list[str]:
    root = Path(root)
    if not root.is_dir():
        return [f"{root}: not a folder"]
    try:
        manifest = read_manifest(root)
    except ContractError as err:
        return [str(err)]
    sizes = manifest.spec.dataset.split_sizes()
    sizes[REFERENCE] = manifest.spec.dataset.reference
    problems: list[str] = []
    for split in (*SPLITS, REFERENCE):
        rows, part_problems = _check_part(root / split, split, manifest, check_hashes, require_complete)
        problems += part_problems
        if require_complete and manifest.shard is None and len(rows) != sizes[split]:
            problems.append(f"{split}: {len(rows)} of {sizes[split]} samples (incomplete; re-run to resume)")
        if len(problems) >= max_problems:
            return problems[:max_problems] + ["... (more problems not shown)"]
    return problems


def _check_part(folder: Path, split: str, manifest, check_hashes: bool, counts: bool) -> tuple[list, list[str]]:
    """(rows, problems) of one part: its rows, the files they name, orphans, and (with `counts`) the
    manifest's counts. An unfinished folder's counts may lag its rows: the writer refreshes them every
    10 s, and a kill or a full disk can stop the last refresh; resuming recomputes them from the rows."""
    cls = ReferenceRow if split == REFERENCE else SampleRow
    rows, bad = scan_rows(folder / METADATA, cls)
    problems = [f"{where}: {msg}" for where, msg in bad]
    seen_files: set[str] = set()
    seen_index: set[int] = set()
    referenced: set[str] = set()
    per_label: dict[str, int] = {}
    for row in rows:
        where = f"{split}/{METADATA} {row.file_name}"
        if row.file_name in seen_files:
            problems.append(f"{where}: file_name: duplicate")
        if row.index in seen_index:
            problems.append(f"{where}: index: duplicate sample index {row.index}")
        seen_files.add(row.file_name)
        seen_index.add(row.index)
        if isinstance(row, SampleRow):
            per_label[row.label] = per_label.get(row.label, 0) + 1
            problems += _check_sample_row(row, where, split, manifest)
        problems += _check_files(folder, split, row, referenced, check_hashes, manifest.spec.render)
    problems += _orphans(folder, referenced, split)
    if not counts:
        return rows, problems
    if split != REFERENCE:
        recorded = manifest.counts.get(split, {})
        if recorded != per_label:
            problems.append(f"{MANIFEST}: counts.{split}: says {recorded}, rows give {per_label}")
    elif manifest.counts.get(REFERENCE, 0) != len(rows):
        problems.append(f"{MANIFEST}: counts.reference: says {manifest.counts.get(REFERENCE)}, rows give {len(rows)}")
    return rows, problems


def _check_sample_row(row, where: str, split: str, manifest) -> list[str]:
    problems, labels = [], manifest.labels
    if row.label not in labels:
        problems.append(f"{where}: label: {row.label!r} not in the vocabulary ({', '.join(labels)})")
    if row.split != split:
        problems.append(f"{where}: split: says {row.split!r} but lies in {split}/")
    n_pins = manifest.spec.grid.pin_count
    if row.pin_boxes and len(row.pin_boxes) != n_pins:
        problems.append(f"{where}: pin_boxes: {len(row.pin_boxes)} boxes for {n_pins} pins")
    return problems


def _check_files(folder: Path, split: str, row, referenced: set, check_hashes: bool, render) -> list[str]:
    """The row's image/twin/mask: present, not empty, the hash the row recorded, the spec's image size."""
    problems = []
    for role, rel in zip(("image", "twin", "mask"), _roles(row), strict=True):
        if not rel:
            continue
        referenced.add(rel)
        path = folder / rel
        if not path.is_file():
            problems.append(f"{split}/{rel}: missing ({role} of {row.file_name})")
        elif path.stat().st_size == 0:
            problems.append(f"{split}/{rel}: empty file")
        elif check_hashes and role in row.sha256 and file_digest(path) != row.sha256[role]:
            problems.append(f"{split}/{rel}: sha256 mismatch (file changed after it was written)")
        elif png_size(path) not in (None, (render.width, render.height)):  # a matching hash proves no size
            width, height = png_size(path)
            problems.append(
                f"{split}/{rel}: {role} is {width} x {height} pixels, the spec renders {render.width} x {render.height}"
            )
    return problems


def png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's header; None for a file that is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _roles(row) -> list[str]:
    if isinstance(row, SampleRow):
        return [row.file_name, row.twin_file, row.mask_file]
    return [row.file_name, "", row.mask_file]


def _orphans(folder: Path, referenced: set[str], split: str) -> list[str]:
    """Image files no row points to (left by a crash before its row was written, or stray files)."""
    found = []
    if not folder.is_dir():
        return found
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            if name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES):
                continue
            rel = Path(dirpath, name).relative_to(folder).as_posix()
            if rel not in referenced:
                found.append(f"{split}/{rel}: orphan file (no row refers to it)")
    return sorted(found)


def check_dataset(root, **kwargs) -> None:
    """Raise a one-line ContractError naming the first problem (and how many there are)."""
    problems = validate_dataset(root, **kwargs)
    if problems:
        more = f" (and {len(problems) - 1} more; run the validate command)" if len(problems) > 1 else ""
        raise ContractError(str(root), problems[0] + more)
