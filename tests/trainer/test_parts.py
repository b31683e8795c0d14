"""Pure: one decision per part from every camera's image of it (parts.py)."""

from types import SimpleNamespace

import numpy as np
import pytest
from pinscope_trainer.parts import PartsDisagree, fused, part_groups, part_report

LABELS = ["ok", "retract", "tilt_x"]


def rows(*parts):
    return [SimpleNamespace(part=p) for p in parts]


def log(*probs):
    return np.log(np.array(probs, dtype=float))


def test_a_camera_that_cannot_tell_gives_way_to_one_that_can():
    # part 0: the top camera is unsure (retract barely shows from above), the side cameras see it;
    # part 1: two cameras lean ok a little, one is sure of a tilt -- a vote would say ok
    probs = log(
        [0.40, 0.35, 0.25],
        [0.10, 0.85, 0.05],
        [0.15, 0.80, 0.05],
        [0.50, 0.10, 0.40],
        [0.50, 0.10, 0.40],
        [0.02, 0.02, 0.96],
    )
    parts, decided = fused(probs, part_groups(rows(0, 0, 0, 1, 1, 1)))
    assert parts == [0, 1] and decided.tolist() == [1, 2]
    report = part_report(rows(0, 0, 0, 1, 1, 1), np.array([1, 1, 1, 2, 2, 2]), probs, LABELS)
    assert report["n"] == 2 and report["accuracy"] == 1.0 and report["cameras"] == 3 and report["wrong_parts"] == []
    wrong = part_report(rows(0, 0, 0, 1, 1, 1), np.array([1, 1, 1, 0, 0, 0]), probs, LABELS)
    assert wrong["accuracy"] == 0.5 and wrong["wrong_parts"] == [1]


def test_rows_without_parts_are_not_fused_and_mixed_labels_are_refused():
    probs = log([0.5, 0.3, 0.2], [0.2, 0.5, 0.3])
    assert part_groups(rows(None, None)) is None and part_groups([]) is None
    assert part_report(rows(0, None), np.array([0, 1]), probs, LABELS) is None
    with pytest.raises(PartsDisagree, match="part 4"):
        part_report(rows(4, 4), np.array([0, 1]), probs, LABELS)


def test_evaluate_scores_parts_beside_images(synthetic_dataset, tmp_path, tiny_args):
    """A dataset whose test images come in parts (two images each, as every_view writes them): evaluate
    adds the fused per-part result to metrics.json and the report, from the same pass of the model."""
    import csv
    import json
    import shutil
    from pathlib import Path

    import torch
    from pinscope_trainer.checkpoints import load_checkpoint
    from pinscope_trainer.cli import main
    from pinscope_trainer.data import load_split
    from pinscope_trainer.inference import TorchPredictor

    run, cache = tmp_path / "run", tmp_path / "cache"
    assert main(tiny_args(synthetic_dataset, run, cache, "--no-eval")) == 0
    parted = tmp_path / "parted"
    shutil.copytree(synthetic_dataset, parted)
    metadata = parted / "test" / "metadata.jsonl"
    lines = [json.loads(line) for line in metadata.read_text().splitlines()]
    for row in lines:  # the synthetic classes repeat every 4 samples: images i and i + 8 share a label
        row["part"] = row["index"] % 8
    metadata.write_text("".join(json.dumps(row) + "\n" for row in lines))
    assert main(["evaluate", "--run", str(run), "--data", str(parted), "--name", "parted"]) == 0
    parts = json.loads((run / "eval" / "parted" / "metrics.json").read_text())["test"]["parts"]
    assert parts["n"] == 8 and parts["cameras"] == 2
    model, info = load_checkpoint(run / "checkpoints" / "best")
    split = load_split(parted, "test", info, cache_dir=cache)
    logits, _ = TorchPredictor(model)(split.inputs)
    log_probs = torch.from_numpy(logits).log_softmax(dim=1).numpy()
    truth = split.labels.numpy()
    wrong = [p for p in range(8) if (log_probs[p] + log_probs[p + 8]).argmax() != truth[p]]
    assert parts["wrong_parts"] == wrong and parts["accuracy"] == pytest.approx(1 - len(wrong) / 8)
    assert "Per part (2 cameras' images" in (run / "eval" / "parted" / "report.md").read_text()
    # predict decides per part as evaluate does: from the rows (auto) ...
    out = tmp_path / "pred"
    predict = ["predict", "--checkpoint", str(run / "checkpoints" / "best"), "--threads", "1", "--no-overlays"]
    assert main([*predict, str(parted / "test"), "--out", str(out), "--quiet"]) == 0
    with open(out / "parts.csv", newline="") as f:
        decided = list(csv.DictReader(f))
    assert len(decided) == 8 and {r["images"] for r in decided} == {"2"}
    assert sorted(int(r["part"].rsplit("#", 1)[1]) for r in decided if r["correct"] == "False") == wrong
    page = (out / "index.html").read_text()
    assert "Per part: every camera's image" in page and page.count("</tr>") == 1 + 8 + 1 + 16  # heads, rows
    # ... or from the folders a station saves (one a part), for images outside any dataset
    for part in range(2):
        for index in (part, part + 8):
            shutil.copy(parted / "test" / lines[index]["file_name"], tmp_path / f"station-{part}-{index}.png")
            (tmp_path / f"part{part}").mkdir(exist_ok=True)
            shutil.move(tmp_path / f"station-{part}-{index}.png", tmp_path / f"part{part}" / f"cam{index}.png")
    station = tmp_path / "station"
    args = [*predict, str(tmp_path / "part0"), str(tmp_path / "part1"), "--out", str(station), "--quiet"]
    assert main([*args, "--parts", "folder", "--view", "centre"]) == 0
    with open(station / "parts.csv", newline="") as f:
        assert [(Path(r["part"]).name, r["images"], r["true"]) for r in csv.DictReader(f)] == [
            ("part0", "2", ""),
            ("part1", "2", ""),
        ]
    assert main([*args, "--parts", "none", "--view", "centre"]) == 0
    assert not (station / "parts.csv").exists()  # no parts now: the earlier run's file is not left to mislead
    # rows that put two defects into one part are refused in one line, and the results above stay
    for row in lines:
        row["part"] = 0
    metadata.write_text("".join(json.dumps(row) + "\n" for row in lines))
    before = (run / "eval" / "parted" / "metrics.json").read_text()
    assert main(["evaluate", "--run", str(run), "--data", str(parted), "--name", "parted"]) == 2
    assert (run / "eval" / "parted" / "metrics.json").read_text() == before
