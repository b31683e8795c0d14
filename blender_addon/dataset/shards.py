"""Shards: split a dataset's samples into N disjoint parts, and merge shard folders into one dataset.

Pure (standard library + the contract): no bpy, so batch systems, the Ray driver and the tests can use
it anywhere.

Partition. The work of a spec is a sequence of *units*: for each split (train, validation, test) the
sample indices in groups of `dataset.twin_share` consecutive indices (a group shares one camera/light
draw and one twin, so it must stay in one shard), then every reference render on its own. Unit u goes
to shard u mod N. Round-robin keeps shards balanced across splits and costs; it depends only on the
spec, so every machine computes the same partition, and per-sample seeds make the result independent
of which shard rendered a sample.

Merge. `merge(shard_dirs, out_dir)` checks that the folders are shards i/N of one spec (same spec_hash,
same N, every i exactly once), that every row lies in its own shard's part (no overlap) and that every
sample of a part is present in its shard or already in the output (no gap); then it copies (or
hard-links) each sample's files into the output and writes its row through the contract's
DatasetWriter, in index order, so a merged folder reads exactly like a single run's. A killed merge
is resumed by running it again: rows already in the output are skipped.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..contract import schema
from ..core.sampling import group_size

MANIFEST, METADATA, REFERENCE, SPLITS = schema.MANIFEST, schema.METADATA, schema.REFERENCE, schema.SPLITS
ContractError, DatasetWriter, GenerationSpec = schema.ContractError, schema.DatasetWriter, schema.GenerationSpec
ReferenceRow, SampleRow = schema.ReferenceRow, schema.SampleRow
file_digest, read_manifest, scan_rows = schema.file_digest, schema.read_manifest, schema.scan_rows
temp_path_for, validate_dataset = schema.temp_path_for, schema.validate_dataset
atomic_file = schema.atomic_file

PARTS = (*SPLITS, REFERENCE)  # every kind of row a dataset folder holds, in merge order
WORK_DIR = ".work"  # scratch folder inside an output (shard folders of --workers / --executor ray)
_SHARD_TEXT = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str, field_name: str = "--shard") -> tuple[int, int]:
    """'i/N' -> (i, N) with 0 <= i < N; anything else is a one-line ContractError naming the field."""
    match = _SHARD_TEXT.fullmatch(str(text))
    if not match:
        raise ContractError(field_name, f"must be i/N with 0 <= i < N (e.g. 0/4), got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or index >= count:
        raise ContractError(field_name, f"must be i/N with 0 <= i < N and N >= 1 (e.g. 0/4), got {text!r}")
    return index, count


def shard_label(index: int, count: int) -> str:
    return f"{index}/{count}"


def shard_dir_name(index: int, count: int) -> str:
    """Folder name of shard i/N inside an output's .work/ (N in the name: a run with another N never reuses it)."""
    return f"shard-{index:03d}-of-{count:03d}"


def work_units(spec: GenerationSpec) -> list[tuple[str, int, int]]:
    """The spec's work as (part, first index, stop index) units, in a fixed order."""
    share = group_size(spec)
    units = []
    for split, size in spec.dataset.split_sizes().items():
        units += [(split, first, min(first + share, size)) for first in range(0, size, share)]
    units += [(REFERENCE, i, i + 1) for i in range(spec.dataset.reference)]
    return units


def shard_plan(spec: GenerationSpec, index: int = 0, count: int = 1) -> dict[str, list[int]]:
    """Sample indices of shard `index` of `count`, per part (train/validation/test/reference), sorted."""
    if count < 1 or not 0 <= index < count:
        raise ContractError("--shard", f"must be i/N with 0 <= i < N, got {index}/{count}")
    plan: dict[str, list[int]] = {part: [] for part in PARTS}
    for unit, (part, first, stop) in enumerate(work_units(spec)):
        if unit % count == index:
            plan[part].extend(range(first, stop))
    return plan


def shard_of(spec: GenerationSpec, part: str, sample_index: int, count: int) -> int:
    """Which of `count` shards renders (part, sample_index)."""
    units = work_units(spec)
    for unit, (unit_part, first, stop) in enumerate(units):
        if unit_part == part and first <= sample_index < stop:
            return unit % count
    raise ContractError(part, f"sample index {sample_index} is outside the spec's {part} size")


def done_in(root: str | os.PathLike) -> dict[str, set[int]]:
    """Indices whose rows are complete in a dataset folder, read-only (no repair, unlike DatasetWriter)."""
    return scan_done(root)[0]


def scan_done(root: str | os.PathLike) -> tuple[dict[str, set[int]], list[str]]:
    """(complete indices per part, damaged rows) of a dataset folder, read-only.

    A damaged row is one DatasetWriter would repair on opening the folder: a torn or invalid line, or a
    row whose files are missing.
    """
    root = Path(root)
    done: dict[str, set[int]] = {part: set() for part in PARTS}
    damaged: list[str] = []
    if not (root / MANIFEST).is_file():
        return done, damaged
    for part in PARTS:
        cls = ReferenceRow if part == REFERENCE else SampleRow
        rows, problems = scan_rows(root / part / METADATA, cls)
        damaged += [f"{where}: {problem}" for where, problem in problems]
        for row in rows:
            if all((root / part / f).is_file() for f in row.files()):
                done[part].add(row.index)
            else:
                damaged.append(f"{part}/{row.file_name}: files missing")
    return done, damaged


# --- merge ------------------------------------------------------------------------------------
@dataclass
class MergeReport:
    out: Path
    shards: int
    added: dict = field(default_factory=dict)  # part -> rows added by this merge
    skipped: int = 0  # rows the output already had (a resumed merge)

    def summary(self) -> str:
        added = ", ".join(f"{part} {n}" for part, n in self.added.items() if n) or "nothing new"
        return f"merged {self.shards} shards into {self.out}: {added}; {self.skipped} already there"


@dataclass
class _Shard:
    root: Path
    index: int
    count: int
    manifest: object
    rows: dict  # part -> list of rows


def _refuse(message: str) -> ContractError:
    return ContractError("merge", message)


def _read_shards(shard_dirs) -> list[_Shard]:
    if not shard_dirs:
        raise _refuse("no shard folders given")
    shards = []
    for root in map(Path, shard_dirs):
        try:
            manifest = read_manifest(root)
        except ContractError as err:
            raise _refuse(f"{root}: {err.message}") from None
        if manifest.shard is None:
            raise _refuse(f"{root} is a whole dataset, not a shard (dataset.json has no shard [i, N])")
        index, count = manifest.shard
        rows = {}
        for part in PARTS:
            cls = ReferenceRow if part == REFERENCE else SampleRow
            rows[part], _problems = scan_rows(root / part / METADATA, cls)
        shards.append(_Shard(root, index, count, manifest, rows))
    return shards


def check_shards(shard_dirs, out_dir=None) -> list[_Shard]:
    """Refuse (one-line ContractError) anything that would not merge into exactly one complete dataset."""
    shards = _read_shards(shard_dirs)
    first = shards[0]
    for shard in shards[1:]:
        if shard.manifest.spec_hash != first.manifest.spec_hash:
            raise _refuse(
                f"{shard.root} was made from a different spec (spec_hash {shard.manifest.spec_hash}) than "
                f"{first.root} (spec_hash {first.manifest.spec_hash}); shards must share one spec"
            )
        if shard.count != first.count:
            raise _refuse(
                f"{shard.root} is shard {shard_label(shard.index, shard.count)} but {first.root} is "
                f"shard {shard_label(first.index, first.count)}; all shards must split into the same N"
            )
    count = first.count
    by_index: dict[int, _Shard] = {}
    for shard in shards:
        if shard.index in by_index:
            raise _refuse(
                f"overlap: shard {shard_label(shard.index, count)} given twice ({by_index[shard.index].root} "
                f"and {shard.root})"
            )
        by_index[shard.index] = shard
    missing = [i for i in range(count) if i not in by_index]
    if missing:
        names = ", ".join(shard_label(i, count) for i in missing)
        raise _refuse(f"gap: shard {names} missing (render it with --shard {shard_label(missing[0], count)})")

    spec = first.manifest.spec
    already = done_in(out_dir) if out_dir is not None else {part: set() for part in PARTS}
    for shard in shards:
        problems = [p for p in validate_dataset(shard.root, require_complete=False) if "orphan file" not in p]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise _refuse(f"{shard.root}: {problems[0]}{more}; re-run that shard to repair it")
        plan = shard_plan(spec, shard.index, count)
        for part in PARTS:
            allowed = set(plan[part])
            stray = sorted(r.index for r in shard.rows[part] if r.index not in allowed)
            if stray:
                owner = shard_of(spec, part, stray[0], count) if stray[0] < _part_size(spec, part) else None
                where = f"belongs to shard {shard_label(owner, count)}" if owner is not None else "is outside the spec"
                raise _refuse(f"overlap: {shard.root} holds {part} sample {stray[0]}, which {where}")
            have = {r.index for r in shard.rows[part]} | already[part]
            lacking = sorted(allowed - have)
            if lacking:
                raise _refuse(
                    f"gap: shard {shard_label(shard.index, count)} ({shard.root}) lacks {len(lacking)} "
                    f"{part} samples (first: {lacking[0]}); re-run it with --shard "
                    f"{shard_label(shard.index, count)} to finish it"
                )
    return sorted(shards, key=lambda s: s.index)


def _part_size(spec: GenerationSpec, part: str) -> int:
    return spec.dataset.reference if part == REFERENCE else spec.dataset.split_sizes()[part]


def _place(src: Path, dst: Path, expected: str | None, link: bool) -> None:
    """Put one file at dst atomically; keep a dst that already holds the expected content (a shared twin).

    A hard link is made under the contract's temporary name and renamed into place (no bytes to write);
    where links cannot be made, the file is copied through the contract's atomic writer.
    """
    if dst.is_file() and expected and file_digest(dst) == expected:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link:
        tmp = temp_path_for(dst)
        try:
            tmp.unlink(missing_ok=True)
            os.link(src, tmp)
            os.replace(tmp, dst)
            return
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
    with open(src, "rb") as source, atomic_file(dst, "wb") as target:
        shutil.copyfileobj(source, target)


def merge(shard_dirs, out_dir, *, link: bool = False, progress=None) -> MergeReport:
    """Merge shard folders i/N (all of them) into `out_dir`; see the module docstring for the checks.

    link=True hard-links files instead of copying (same filesystem; used by --workers, whose shards
    live in the output's .work/). `progress(done, total)` is called as rows are written.
    """
    out_dir = Path(out_dir)
    if (out_dir / MANIFEST).is_file():
        existing = read_manifest(out_dir)
        if existing.shard is not None:
            raise _refuse(f"{out_dir} is itself shard {shard_label(*existing.shard)}; merge into a new folder")
    shards = check_shards(shard_dirs, out_dir)
    spec = shards[0].manifest.spec
    blender = next((s.manifest.generator.blender_version for s in shards if s.manifest.generator.blender_version), "")
    writer = DatasetWriter(out_dir, spec, blender_version=blender)
    report = MergeReport(out=out_dir, shards=len(shards), added={part: 0 for part in PARTS})
    pending = []
    for part in PARTS:
        done = writer.done_indices(part)
        rows = sorted(((r.index, r, s) for s in shards for r in s.rows[part]), key=lambda t: t[0])
        for _index, row, shard in rows:
            if row.index in done:
                report.skipped += 1
            else:
                pending.append((part, row, shard))
    roles = ("image", "twin", "mask")
    for number, (part, row, shard) in enumerate(pending, start=1):
        rel_files = [row.file_name, getattr(row, "twin_file", ""), row.mask_file]
        for role, rel in zip(roles, rel_files, strict=True):
            if rel:
                _place(shard.root / part / rel, out_dir / part / rel, row.sha256.get(role), link)
        if part == REFERENCE:
            writer.add_reference(row)
        else:
            writer.add_sample(row)
        report.added[part] += 1
        if number % 500 == 0:
            writer.flush()
        if progress:
            progress(number, len(pending))
    writer.flush({"merged_from_shards": len(shards), "shard_stats": [s.manifest.stats for s in shards]})
    return report
