"""Export a dataset folder into a format other tools read: check everything, then write, resumably.

Order of work: every check that can refuse (the format, DATA, OUT) runs before anything is written.
Then `pinscope-export.json` records what OUT is an export of, every sample's files are written (each
atomically, so a file under its real name is whole), and the files made from all samples (COCO's
JSON, data.yaml, samples.csv) are written last; the record is then marked complete. A killed export
re-run with the same arguments skips the samples whose files exist; a complete one does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import write_json_atomic
from ..fields import ContractError
from ..io import METADATA, read_manifest, read_rows
from ..spec import SPLITS
from ..validate import check_dataset
from .common import Sample, exists
from .formats import FORMATS, GOOD, Context, Format

RECORD = "pinscope-export.json"


@dataclass(frozen=True)
class ExportOptions:
    """One export: `python -m pinscope_schema.export --format FORMAT DATA OUT`."""

    format: str = field(metadata={"flag": "--format", "help": "coco, yolo, mvtec or anomalib-csv"})
    data: str = field(metadata={"flag": "DATA", "help": "a rendered, complete PinScope dataset folder"})
    out: str = field(metadata={"flag": "OUT", "help": "a new or empty folder (or this export, to resume)"})
    quiet: bool = field(default=False, metadata={"flag": "--quiet", "help": "no progress lines"})


@dataclass(frozen=True)
class Plan:
    fmt: Format
    ctx: Context
    samples: list
    record: dict  # what pinscope-export.json says (complete: False until the end)
    resume: bool  # OUT holds an unfinished export of the same DATA and format
    done: bool  # OUT holds this very export, complete


def rows_digest(root: Path) -> str:
    """Identity of DATA's rows (every split's metadata.jsonl): an export resumes only on the same rows."""
    h = hashlib.sha256()
    for split in SPLITS:
        path = root / split / METADATA
        h.update(split.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    return h.hexdigest()[:16]


def plan_export(opts: ExportOptions) -> Plan:
    """Every check, nothing written. ContractError names the field: --format, DATA or OUT."""
    fmt = FORMATS.get(opts.format)
    if fmt is None:
        raise ContractError("--format", f"must be one of {', '.join(FORMATS)}, got {opts.format!r}")
    data, out = Path(opts.data), Path(opts.out)
    manifest = _check_data(data)
    samples = _select(fmt, data, manifest)
    _check_samples(fmt, manifest, samples)
    record = {
        "format": fmt.name,
        "source": str(data.resolve()),
        "spec_hash": manifest.spec_hash,
        "rows": rows_digest(data),
        "samples": len(samples),
        "complete": False,
    }
    resume, done = _check_out(out, data, record)
    spec = manifest.spec
    ok = frozenset(c.name for c in spec.defects.classes if c.mode == "ok")
    ctx = Context(out, manifest, (spec.render.width, spec.render.height), ok)
    return Plan(fmt, ctx, samples, record, resume, done)


def _check_data(data: Path):
    if not data.is_dir():
        raise ContractError("DATA", f"{data} is not a folder (a rendered PinScope dataset, e.g. data/default)")
    try:
        manifest = read_manifest(data)
        check_dataset(data)  # complete, hashes match: an export of a half-rendered folder would mislead
    except ContractError as err:
        raise ContractError("DATA", f"{data}: {err}") from None
    return manifest


def _select(fmt: Format, data: Path, manifest) -> list[Sample]:
    ok = {c.name for c in manifest.spec.defects.classes if c.mode == "ok"}
    samples = []
    for split in SPLITS:
        rows = sorted(read_rows(data / split / METADATA), key=lambda r: r.index)
        if fmt.anomaly and split == "validation":
            continue
        if fmt.anomaly and split == "train":
            rows = [r for r in rows if r.label in ok]
        samples += [Sample(split, r, data / split) for r in rows]
    return samples


def _check_samples(fmt: Format, manifest, samples: list[Sample]) -> None:
    if fmt.needs_masks and any(not s.row.mask_file for s in samples):
        raise ContractError("DATA", f"{fmt.name} needs the instance masks; render with dataset.mask = true")
    if fmt.anomaly:
        names = [c.name for c in manifest.spec.defects.classes if c.mode != "ok"]
        if GOOD in names:
            raise ContractError("DATA", f"{fmt.name}: a defect class is named {GOOD!r}, the folder of OK images")
        if not any(s.split == "train" for s in samples):
            raise ContractError("DATA", f"{fmt.name} trains on OK renders of train, and train has none")
        if not any(s.split == "test" for s in samples):
            raise ContractError("DATA", f"{fmt.name} needs a test split, and test is empty")


def _check_out(out: Path, data: Path, record: dict) -> tuple[bool, bool]:
    """(resume, done) for OUT; refuses a file, a folder inside DATA, and any other non-empty folder."""
    if out.exists() and not out.is_dir():
        raise ContractError("OUT", f"{out} is a file; give a new or empty folder")
    resolved = out.resolve()
    if resolved == data.resolve() or data.resolve() in resolved.parents:
        raise ContractError("OUT", f"{out} lies inside DATA ({data}); give a folder outside the dataset")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not entries:
        return False, False
    previous = _read_record(out / RECORD)
    if previous is None:
        raise ContractError(
            "OUT", f"{out} is not empty ({len(entries)} entries, e.g. {entries[0]!r}); give a new or empty folder"
        )
    same = {k: previous.get(k) for k in ("format", "spec_hash", "rows")} == {
        k: record[k] for k in ("format", "spec_hash", "rows")
    }
    if not same:
        raise ContractError(
            "OUT",
            f"{out} holds a {previous.get('format')} export of another dataset or format "
            f"(from {previous.get('source')}); give a new folder",
        )
    return True, bool(previous.get("complete"))


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def run_export(opts: ExportOptions) -> dict:
    """Plan (all checks), then write. Returns a summary: format, out, samples, written, skipped, files."""
    plan = plan_export(opts)
    out = Path(opts.out)
    summary = {"format": plan.fmt.name, "out": str(out), "samples": len(plan.samples), "written": 0, "skipped": 0,
               "resumed": plan.resume}  # fmt: skip
    if plan.done:
        return {**summary, "skipped": len(plan.samples), "files": [], "complete": "already"}
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / RECORD, plan.record)
    progress = Progress(plan.fmt.name, len(plan.samples), opts.quiet)
    kill_after = int(os.environ.get("PINSCOPE_EXPORT_KILL_AFTER", "0"))  # test-only fault injection
    for sample in plan.samples:
        if kill_after and summary["written"] == kill_after:  # a real SIGKILL, for the resume test
            os.kill(os.getpid(), signal.SIGKILL)
        if exists(out, *plan.fmt.outputs(plan.ctx, sample)):
            summary["skipped"] += 1
        else:
            plan.fmt.write(plan.ctx, sample)
            summary["written"] += 1
        progress.step()
    files = plan.fmt.finish(plan.ctx, plan.samples)
    write_json_atomic(out / RECORD, {**plan.record, "complete": True, "files": files})
    return {**summary, "files": files, "complete": "now"}


class Progress:
    """A line on stderr every 10 % (and at the end): long exports show they are moving."""

    def __init__(self, name: str, total: int, quiet: bool):
        self.name, self.total, self.quiet = name, total, quiet
        self.count, self.start, self.next = 0, time.monotonic(), max(1, total // 10)

    def step(self) -> None:
        self.count += 1
        if self.quiet or (self.count < self.next and self.count != self.total):
            return
        self.next += max(1, self.total // 10)
        seconds = time.monotonic() - self.start
        print(f"export {self.name}: {self.count}/{self.total} samples ({seconds:.1f} s)", file=sys.stderr, flush=True)
