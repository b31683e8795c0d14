"""DatasetWriter when the disk fills up: the failed append raises, and the folder stays readable.

A real write failure, not a mock: a child process caps its file sizes with RLIMIT_FSIZE (SIGXFSZ
ignored), so the row append that would cross the cap is cut short by the kernel -- as a full disk cuts
a write short -- and the writer's next write fails with EFBIG.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO, sample_row, tiny_spec, write_sample
from pinscope_schema import DatasetWriter, read_manifest, scan_rows, validate_dataset

WHOLE_ROWS = 3

CHILD = """
import resource, signal, sys
sys.path[:0] = [sys.argv[3], sys.argv[4]]
from conftest import tiny_spec, write_sample
from pinscope_schema import DatasetWriter

writer = DatasetWriter(sys.argv[1], tiny_spec(train=8))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing the process
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
for index in range(8):
    try:
        write_sample(writer, "train", index)
    except OSError as err:
        print(f"OSError at sample {index}: {err}")
        break
"""


def row_bytes(index: int) -> int:
    """Length of the line the writer appends for conftest's sample_row (compact JSON + newline)."""
    return len(json.dumps(sample_row("train", index).to_dict(), separators=(",", ":"))) + 1


def test_failed_append_raises_and_the_folder_reopens_with_the_whole_rows(tmp_path):
    root = tmp_path / "ds"
    limit = sum(row_bytes(i) for i in range(WHOLE_ROWS)) + row_bytes(WHOLE_ROWS) // 2
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(limit), str(REPO / "shared"), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith(f"OSError at sample {WHOLE_ROWS}:"), child.stdout + child.stderr

    metadata = root / "train" / "metadata.jsonl"
    assert metadata.stat().st_size <= limit  # the kernel really refused to grow the file
    read_manifest(root)  # dataset.json is untouched by a failed append
    rows, problems = scan_rows(metadata)
    assert [r.index for r in rows] == list(range(WHOLE_ROWS))
    assert [msg for _where, msg in problems] in ([], ["truncated line (the writer was interrupted)"])

    # What resume does: reopen (a torn line is dropped), write the missing samples, flush.
    writer = DatasetWriter(root, tiny_spec(train=8))
    assert writer.done_indices("train") == set(range(WHOLE_ROWS))
    for index in range(WHOLE_ROWS, 8):
        write_sample(writer, "train", index)
    writer.flush()
    assert validate_dataset(root, require_complete=False) == []
    assert [r.index for r in writer.rows("train")] == list(range(8))
