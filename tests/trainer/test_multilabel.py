"""`--label pins`: NG bits per pin from the rows, per-pin precision/recall, and a micro run end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pinscope_schema import PinRecord, SampleRow
from pinscope_trainer.cli import main
from pinscope_trainer.data import PinDataset
from pinscope_trainer.multilabel import pin_report, pin_targets


def row(pin=None, defects=()):
    return SampleRow(
        file_name="images/000000.png", label="x", mode="ok" if pin is None else "bend", pin=pin, defects=list(defects)
    )


def test_targets_are_the_ng_pins_of_each_row():
    rows = [
        row(),  # OK: no bits
        row([1, 0], [PinRecord(pin=[1, 0], ng=True), PinRecord(pin=[0, 2], ng=True), PinRecord(pin=[2, 2], ng=False)]),
        row([2, 1]),  # written before per-pin records: its one pin
    ]
    targets = pin_targets(rows, cols=3, count=9)
    assert targets.shape == (3, 9) and targets.dtype == np.float32
    assert [list(np.nonzero(t)[0]) for t in targets] == [[], [1, 6], [5]]  # index = row * cols + col


def test_pin_report_counts_per_pin_and_per_image():
    truth = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 1]])
    guess = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    report = pin_report(truth, guess, ["a", "b", "c"])
    a, b, c = (report["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"], a["support"]) == (1.0, 1.0, 2)
    assert (b["precision"], b["recall"], b["support"]) == (0.0, 0.0, 1)  # one missed, one false alarm
    assert (c["precision"], c["recall"]) == (1.0, 1.0)
    assert report["micro_precision"] == pytest.approx(3 / 4) and report["micro_recall"] == pytest.approx(3 / 4)
    assert report["accuracy"] == pytest.approx(2 / 4)  # images 0 and 3 exactly right
    assert report["confusion"] == [[0, 1], [0, 3]] and report["labels"] == ["ok", "ng"]  # image 2: a false NG


def test_a_micro_run_trains_on_pins_and_reports_per_pin_metrics(
    tiny_args, synthetic_dataset, tmp_path, cache_dir, capsys
):
    run = tmp_path / "run"
    assert main(tiny_args(synthetic_dataset, run, cache_dir, "--label", "pins", "--epochs", "2")) == 0
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    names = PinDataset(synthetic_dataset).vocabulary("pins")
    for split in ("validation", "test"):
        result = metrics[split]
        assert set(result["per_class"]) == set(names) and 0.0 <= result["micro_recall"] <= 1.0
        assert result["n"] == sum(result["confusion"][0]) + sum(result["confusion"][1])
    assert "| pin11 |" in (run / "report.md").read_text()
    best = run / "checkpoints" / "best"
    capsys.readouterr()
    images = str(synthetic_dataset / "test" / "images" / "*.png")
    assert main(["predict", "--checkpoint", str(best), images, "--out", str(tmp_path / "p")]) == 2
    message = f"error: --checkpoint: {best} is a --label pins (multi-label) model: score it with evaluate"
    assert capsys.readouterr().err.strip() == message


def test_pins_refuses_token_loss_in_one_line(tiny_args, synthetic_dataset, tmp_path, cache_dir, capsys):
    code = main(tiny_args(synthetic_dataset, tmp_path / "run", cache_dir, "--label", "pins", "--token-loss", "0.5"))
    assert code == 2
    assert (
        capsys.readouterr().err.strip()
        == "error: --token-loss: trains one class per image; --label pins is multi-label: leave it out"
    )
    assert not (tmp_path / "run").exists()
