"""Print what `make demo` found: accuracy, per-class F1, pointing game, and where the outputs are.

Reads only files the earlier steps wrote (runs/<run>/eval/metrics.json and mistakes.csv,
reports/<run>/attention/scores.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path


def pointing(scores: dict) -> list[str]:
    """One line per checkpoint: pointing game (box) and attention mass on the defective pin, per method."""
    lines = []
    for checkpoint, methods in (scores.get("scores") or {}).items():
        parts = []
        for method, table in methods.items():
            overall = table["overall"]
            hit, mass = overall.get("pointing_box"), overall.get("mass_defect")
            if hit is not None:
                parts.append(f"{method} pointing {hit:.0%}, mass on pin {mass or 0:.0%}")
        if parts:
            lines.append(f"  {checkpoint}: " + "; ".join(parts))
    return lines


def mistakes_line(path: Path) -> str | None:
    """The test mistakes grouped by what went wrong where, e.g. 'retract->ok at pin 1,4 (centre) x3'."""
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        wrong = [m for m in csv.DictReader(f) if m["split"] == "test"]
    if not wrong:
        return "mistakes  none on test"
    groups = Counter((m["true"], m["predicted"], m["pin"] or "-", m["view"]) for m in wrong)
    parts = [f"{t}->{p} at pin {pin} ({view}) x{n}" for (t, p, pin, view), n in groups.most_common(6)]
    more = len(groups) - 6
    return "mistakes  " + "; ".join(parts) + (f"; {more} more kinds" if more > 0 else "") + " (eval/mistakes.csv)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--robustness", help="a robustness suite's folder (bench/robustness.py --out)")
    args = parser.parse_args(argv)
    metrics_file = Path(args.run) / "eval" / "metrics.json"
    scores_file = Path(args.report) / "scores.json"
    if not metrics_file.exists():
        print(f"error: --run: {metrics_file} not found (did training finish?)", file=sys.stderr)
        return 2
    metrics = json.loads(metrics_file.read_text())
    test = metrics["test"]
    f1 = ", ".join(f"{name} {cls['f1']:.2f}" for name, cls in test["per_class"].items())
    print("== PinScope demo")
    print(f"dataset   {args.data}")
    print(f"run       {args.run} (checkpoint {metrics['checkpoint']}, epoch {metrics['epoch']})")
    print(f"test      accuracy {test['accuracy']:.1%} on {test['n']} images; F1 {f1}")
    if test.get("parts"):  # dataset.every_view: one decision per part from all its cameras
        parts = test["parts"]
        print(f"per part  accuracy {parts['accuracy']:.1%} on {parts['n']} parts ({parts['cameras']} cameras each)")
    line = mistakes_line(Path(args.run) / "eval" / "mistakes.csv")
    if line:
        print(line)
    if scores_file.exists():
        scores = json.loads(scores_file.read_text())
        print(f"attention {scores['samples']} test samples, methods {', '.join(scores['methods'])}")
        for line in pointing(scores):
            print(line)
        index = scores_file.parent / "index.html"
        print(f"report    {index}")
    table = Path(args.robustness or "-") / "robustness.md"
    if table.is_file():  # its last line is the suite's summary
        sets = json.loads((table.parent / "robustness.json").read_text())["sets"]
        print(table.read_text().strip().splitlines()[-1].replace("robustness: ", "robustness "))
        print(f"          {table} ({len(sets) - 1} shift sets of {sets['in_domain']['n']} images)")
    print(f"training  {Path(args.run) / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
