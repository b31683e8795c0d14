"""tools/demo_summary.py: what `make demo` prints of a run, the per-part line where the test split has parts."""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import demo_summary  # noqa: E402


def write_run(run: Path, parts: dict | None) -> None:
    test = {"accuracy": 0.98, "n": 300, "per_class": {"ok": {"f1": 0.97}, "retract": {"f1": 0.96}}}
    if parts is not None:
        test["parts"] = parts
    (run / "eval").mkdir(parents=True)
    (run / "eval" / "metrics.json").write_text(json.dumps({"checkpoint": "best", "epoch": 15, "test": test}))


def test_the_summary_names_the_per_part_accuracy_only_where_there_are_parts(tmp_path, capsys):
    args = ["--data", "data/default", "--report", str(tmp_path / "none")]
    write_run(tmp_path / "parted", {"accuracy": 1.0, "n": 100, "cameras": 3})
    assert demo_summary.main(["--run", str(tmp_path / "parted"), *args]) == 0
    out = capsys.readouterr().out
    assert "test      accuracy 98.0% on 300 images" in out
    assert "per part  accuracy 100.0% on 100 parts (3 cameras each)" in out
    write_run(tmp_path / "plain", None)
    assert demo_summary.main(["--run", str(tmp_path / "plain"), *args]) == 0
    assert "per part" not in capsys.readouterr().out
