"""Reading and writing dataset folders safely.

Crash safety: files are written under a temporary name and renamed into place; a metadata row is
appended as one whole line with a single write and fsync, and only after its files exist, so a
killed process leaves at worst an unreferenced file (overwritten on resume) or a torn last line
(dropped and re-rendered on resume) -- never a row that points at a half-written image.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_file, temp_path_for, write_json_atomic  # noqa: F401 (re-exported)
from .fields import ContractError
from .records import Manifest, ReferenceRow, SampleRow, new_manifest
from .spec import SPLITS, GenerationSpec

MANIFEST = "dataset.json"
METADATA = "metadata.jsonl"
REFERENCE = "reference"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def file_digest(path: str | os.PathLike) -> str:
    """First 16 hex digits of the file's SHA-256 (enough to catch corruption, short in rows)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def append_line(path: str | os.PathLike, data: dict) -> None:
    """Append one JSON line with a single write (O_APPEND) and fsync: whole rows or nothing."""
    line = (json.dumps(data, separators=(",", ":")) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"short write to {path} ({written} of {len(line)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(root: str | os.PathLike) -> Manifest:
    path = Path(root) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError(MANIFEST, f"not found in {root} (not a PinScope dataset folder)") from None
    except RecursionError:
        raise ContractError(MANIFEST, "invalid JSON: nested too deeply") from None
    except ValueError as err:  # JSONDecodeError, not UTF-8, or an integer of more than 4300 digits
        raise ContractError(MANIFEST, f"invalid JSON: {err}") from None
    return Manifest.from_dict(data)


def read_rows(path: str | os.PathLike, record_cls=SampleRow, label: str | None = None):
    """Parse a metadata.jsonl strictly: the first bad line raises `<file> line N: <problem>`."""
    rows, problems = scan_rows(path, record_cls, label)
    if problems:
        raise ContractError(problems[0][0], problems[0][1])
    return rows


def iter_rows(path: str | os.PathLike, record_cls=SampleRow, label: str | None = None):
    """Yield (where, row, None) or (where, None, problem) per non-blank line, reading one line at a time
    (a resumed 10,000-row folder then costs a row's memory, not 10,000 parsed rows)."""
    path = Path(path)
    name = label or f"{path.parent.name}/{path.name}"
    if not path.exists():
        return
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{name} line {number}"
            if not line.endswith(b"\n"):  # the last write did not finish its line
                yield where, None, "truncated line (the writer was interrupted)"
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as err:
                yield where, None, f"invalid JSON ({err.msg} at column {err.colno})"
                continue
            except UnicodeDecodeError:
                yield where, None, "invalid JSON (not UTF-8 text)"
                continue
            except RecursionError:
                yield where, None, "invalid JSON (nested too deeply)"
                continue
            except ValueError:  # an integer of more than 4300 digits
                yield where, None, "invalid JSON (a number too long to read)"
                continue
            try:
                yield where, record_cls.from_dict(data), None
            except ContractError as err:
                yield where, None, str(err)


def scan_rows(path: str | os.PathLike, record_cls=SampleRow, label: str | None = None):
    """Parse leniently: returns (good rows, [(where, problem), ...]) for resume and validation."""
    rows, problems = [], []
    for where, row, problem in iter_rows(path, record_cls, label):
        if row is None:
            problems.append((where, problem))
        else:
            rows.append(row)
    return rows, problems


def rewrite_rows(path: str | os.PathLike, rows) -> None:
    """Replace a metadata file with exactly `rows` (used by resume to drop broken lines)."""
    with atomic_file(path) as f:
        for row in rows:
            f.write(json.dumps(row.to_dict(), separators=(",", ":")) + "\n")


@dataclass(frozen=True)
class RowKey:
    """What the writer remembers of a written row: enough for resume, duplicates and counts."""

    index: int
    label: str

    @staticmethod
    def of(row) -> RowKey:
        return RowKey(row.index, getattr(row, "label", ""))


class DatasetWriter:
    """Owns one dataset folder: creates it for a spec, or reopens it for resume with the same spec.

    Rows are checked against the contract and the label vocabulary before they are written; a
    duplicate file_name is refused. The manifest's counts are recomputed from the rows on `flush`.
    """

    def __init__(self, root, spec: GenerationSpec, blender_version: str = "", shard=None):
        self.root = Path(root)
        self.spec = spec
        # A compact index per row (not whole rows): memory stays flat over long runs.
        self._index: dict[str, dict[str, RowKey]] = {s: {} for s in (*SPLITS, REFERENCE)}
        self.repaired: list[str] = []
        manifest_path = self.root / MANIFEST
        if manifest_path.exists():
            self.manifest = read_manifest(self.root)
            if self.manifest.spec_hash != spec.fingerprint():
                raise ContractError(
                    "--out",
                    f"{self.root} holds a dataset made from a different spec (spec_hash {self.manifest.spec_hash},"
                    f" this spec {spec.fingerprint()}); choose another folder",
                )
            self._load_existing()
        else:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                probe = self.root / f".write-test{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as err:
                raise ContractError("--out", f"cannot write to {self.root}: {err.strerror or err}") from None
            self.manifest = new_manifest(spec, blender_version, now=utc_now())
            self.manifest.shard = list(shard) if shard else None
        if blender_version:
            self.manifest.generator.blender_version = blender_version
        for folder in (*SPLITS, REFERENCE):
            (self.root / folder).mkdir(exist_ok=True)
        self.flush()

    def _load_existing(self):
        for split in (*SPLITS, REFERENCE):
            cls = ReferenceRow if split == REFERENCE else SampleRow
            path = self.root / split / METADATA
            folder = self.root / split

            def complete(row, folder=folder) -> bool:
                return all((folder / f).exists() for f in row.files())

            broken = []
            for where, row, problem in iter_rows(path, cls):
                if row is None:
                    broken.append(f"{where}: {problem}")
                elif not complete(row):
                    broken.append(f"{split}/{row.file_name}: files missing, will re-render")
                else:
                    self._index[split][row.file_name] = RowKey.of(row)
            if broken:
                self.repaired.extend(broken)
                rewrite_rows(path, (r for _, r, _ in iter_rows(path, cls) if r is not None and complete(r)))

    # --- queries ------------------------------------------------------------------------------
    def done_indices(self, split: str) -> set[int]:
        return {key.index for key in self._index[split].values()}

    def split_dir(self, split: str) -> Path:
        return self.root / split

    # --- writing ------------------------------------------------------------------------------
    def add_sample(self, row: SampleRow) -> None:
        self._add(row.split, row.validate())

    def add_reference(self, row: ReferenceRow) -> None:
        self._add(REFERENCE, row.validate())

    def _add(self, split: str, row) -> None:
        if isinstance(row, SampleRow) and row.label not in self.manifest.labels:
            raise ContractError(
                "row.label", f"{row.label!r} not in the label vocabulary ({', '.join(self.manifest.labels)})"
            )
        if row.file_name in self._index[split]:
            raise ContractError("row.file_name", f"duplicate file name {row.file_name!r} in {split}/")
        for f in row.files():
            if not (self.root / split / f).is_file():
                raise ContractError("row.file_name", f"{split}/{f} does not exist; write files before the row")
        append_line(self.root / split / METADATA, row.to_dict())
        self._index[split][row.file_name] = RowKey.of(row)

    def counts(self) -> dict:
        counts = {s: {} for s in SPLITS}
        for split in SPLITS:
            for key in self._index[split].values():
                counts[split][key.label] = counts[split].get(key.label, 0) + 1
        counts[REFERENCE] = len(self._index[REFERENCE])
        return counts

    def flush(self, stats: dict | None = None) -> None:
        """Write dataset.json (atomically) with counts recomputed from the rows."""
        self.manifest.counts = self.counts()
        self.manifest.updated = utc_now()
        if stats:
            self.manifest.stats.update(stats)
        write_json_atomic(self.root / MANIFEST, self.manifest.validate().to_dict())

    def rows(self, split: str) -> list:
        """The split's rows as written, in index order (read back from disk)."""
        cls = ReferenceRow if split == REFERENCE else SampleRow
        return sorted(read_rows(self.root / split / METADATA, cls), key=lambda r: r.index)
