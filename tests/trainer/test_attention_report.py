"""`attention` end to end: a tiny synthetic dataset, a tiny trained run, the report, and bad input."""

from __future__ import annotations

import json
import os
import shutil

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from pinscope_trainer import cli as trainer_cli  # noqa: E402
from pinscope_trainer.attention import cli as attention_cli  # noqa: E402
from pinscope_trainer.synthetic import make_dataset  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 3-checkpoint micro ViT trained for 3 epochs on 24 synthetic 32x96 renders (a few seconds)."""
    root = tmp_path_factory.mktemp("attention")
    old_cache = os.environ.get("PINSCOPE_CACHE")
    os.environ["PINSCOPE_CACHE"] = str(root / "cache")
    data = make_dataset(root / "data", train=24, validation=8, test=12, reference=4)
    code = trainer_cli.main(
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(root / "run"),
            "--preset",
            "micro",
            "--patch",
            "8",
            "--epochs",
            "3",
            "--save-epochs",
            "1,2,3",
            "--quiet",
            "--no-eval",
        ]
    )
    assert code == 0
    yield root
    if old_cache is None:
        os.environ.pop("PINSCOPE_CACHE", None)
    else:
        os.environ["PINSCOPE_CACHE"] = old_cache


def test_report_builds_with_scores_curation_and_pictures(tiny_run, capsys):
    out = tiny_run / "report"
    # through the trainer's CLI, as `make attention RUN=.. CKPTS=..` calls it
    assert (
        trainer_cli.main(
            ["attention", "--run", str(tiny_run / "run"), "--ckpts", "1,2,3", "--out", str(out), "--samples", "4"]
        )
        == 0
    )
    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") >= 6  # self-contained: pictures are embedded
    for name in (
        "epochs_cls.png",
        "epochs_rollout.png",
        "epochs_gradient.png",
        "heads.png",
        "inputs.png",
        "scores_over_epochs.png",
    ):
        assert (out / name).stat().st_size > 1000, name
    summary = json.loads((out / "scores.json").read_text())
    assert [c["epoch"] for c in summary["checkpoints"]] == [1, 2, 3]
    assert summary["ground_truth"] == {"mask": 12, "boxes": 0, "none": 0}
    for checkpoint in ("epoch-0001", "epoch-0003"):
        for method in ("cls", "rollout", "gradient"):
            overall = summary["scores"][checkpoint][method]["overall"]
            assert overall["n"] == 12 and overall["n_scored"] == 12
            assert 0.0 <= overall["pointing_box"] <= 1.0
            total = overall["mass_other_pins"] + overall["mass_background"]
            assert total <= 1.0 + 1e-9 and 0.0 <= overall["mass_defect"] <= 1.0
            by_label = summary["scores"][checkpoint][method]["by_label"]
            assert set(by_label) == {"ok", "retract", "tilt_x", "tilt_y"}
            assert by_label["ok"]["pointing_box"] is None
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 3 * 3 * 12
    for record in records:
        if record["mass_background"] is not None:
            parts = [record["mass_defect"] or 0.0, record["mass_other_pins"], record["mass_background"]]
            assert sum(parts) == pytest.approx(1.0)
    hints = summary["curation"]
    problems = sum(g["wrong"] + g["right_wrong_reason"] for g in hints["groups"])
    assert problems <= hints["wrong"] + hints["right_wrong_reason"]
    # a second run reuses the saved maps (resume) and gives the same scores
    capsys.readouterr()
    assert (
        attention_cli.main(["--run", str(tiny_run / "run"), "--ckpts", "1,2,3", "--out", str(out), "--samples", "4"])
        == 0
    )
    assert capsys.readouterr().err.count("maps reused") == 3
    assert json.loads((out / "scores.json").read_text())["scores"] == summary["scores"]


def without_masks(tiny_run, name: str, keep_boxes: bool):
    """A copy of the dataset whose test rows lost their masks (and their boxes unless keep_boxes)."""
    data = tiny_run / name
    shutil.copytree(tiny_run / "data", data)
    meta = data / "test" / "metadata.jsonl"
    rows = [json.loads(line) for line in meta.read_text().splitlines()]
    for row in rows:
        row["mask_file"] = ""
        row["sha256"].pop("mask", None)
        if not keep_boxes:
            row.update(pin_boxes=[], defect_box=None)
    meta.write_text("".join(json.dumps(r) + "\n" for r in rows))
    shutil.rmtree(data / "test" / "masks")
    return data


def test_dataset_with_boxes_but_no_masks_is_scored_on_the_boxes(tiny_run, capsys):
    data = without_masks(tiny_run, "data_boxes", keep_boxes=True)
    out = tiny_run / "report_boxes"
    assert (
        attention_cli.main(
            [
                "--run",
                str(tiny_run / "run"),
                "--ckpts",
                "3",
                "--data",
                str(data),
                "--out",
                str(out),
                "--samples",
                "2",
                "--methods",
                "rollout",
            ]
        )
        == 0
    )
    assert "scored on their pin boxes" in capsys.readouterr().err
    summary = json.loads((out / "scores.json").read_text())
    assert summary["ground_truth"]["boxes"] == 12
    assert summary["scores"]["epoch-0003"]["rollout"]["overall"]["n_scored"] == 12


def test_dataset_without_masks_or_boxes_draws_maps_and_skips_scores(tiny_run, capsys):
    data = without_masks(tiny_run, "data_nomask", keep_boxes=False)
    out = tiny_run / "report_nomask"
    code = attention_cli.main(
        [
            "--run",
            str(tiny_run / "run"),
            "--ckpts",
            "3",
            "--data",
            str(data),
            "--out",
            str(out),
            "--samples",
            "2",
            "--methods",
            "cls,rollout",
        ]
    )
    assert code == 0
    assert "scores are skipped" in capsys.readouterr().err
    summary = json.loads((out / "scores.json").read_text())
    assert summary["scores"] is None and summary["ground_truth"]["none"] == 12
    assert (out / "epochs_rollout.png").is_file() and "scores are skipped" in (out / "index.html").read_text()


def one_line_error(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1
    return err[0]


def test_bad_input_is_one_line_and_exit_2(tiny_run, capsys):
    run = str(tiny_run / "run")
    empty = tiny_run / "empty_run"
    empty.mkdir()
    assert attention_cli.main(["--run", str(empty)]) == 2
    message = one_line_error(capsys)
    assert message.startswith("error: --run:") and "no checkpoints" in message
    assert attention_cli.main(["--run", run, "--ckpts", "300"]) == 2
    assert "available: 1, 2, 3" in one_line_error(capsys)
    assert attention_cli.main(["--run", run, "--methods", "cls,saliency"]) == 2
    assert "cls,rollout,gradient" in one_line_error(capsys)
    assert attention_cli.main(["--run", run, "--discard", "1.5"]) == 2
    assert "[0, 1)" in one_line_error(capsys)
    # a checkpoint trained on another label set
    other = tiny_run / "other_run"
    shutil.copytree(tiny_run / "run", other)
    info_file = other / "checkpoints" / "epoch-0003" / "preprocess.json"
    info = json.loads(info_file.read_text())
    info["labels"] = ["good", "bent", "missing", "short"]
    info_file.write_text(json.dumps(info))
    assert attention_cli.main(["--run", str(other), "--ckpts", "3", "--out", str(tiny_run / "r_other")]) == 2
    assert "label set" in one_line_error(capsys)
    # a checkpoint whose weights are not a safetensors file
    (other / "checkpoints" / "epoch-0002" / "model.safetensors").write_bytes(b"not weights")
    assert attention_cli.main(["--run", str(other), "--ckpts", "2", "--out", str(tiny_run / "r_other")]) == 2
    assert "cannot load the checkpoint" in one_line_error(capsys)
