"""Pure: one decision per part from every camera's image of it (parts.py)."""

import csv
import json
import shutil
from pathlib import Path
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


def write_parts(metadata: Path, lines: list[dict], part_of) -> None:
    for row in lines:
        row["part"] = part_of(row["index"])
    metadata.write_text("".join(json.dumps(row) + "\n" for row in lines))


@pytest.fixture(scope="module")
def parted(synthetic_dataset, tmp_path_factory, tiny_args):
    """A micro run, and a copy of its dataset whose test images come in parts of two (as every_view writes
    them; the synthetic classes repeat every 4 samples, so images i and i + 8 share a label), scored."""
    from pinscope_trainer.cli import main

    root = tmp_path_factory.mktemp("parts")
    run, cache, data = root / "run", root / "cache", root / "parted"
    assert main(tiny_args(synthetic_dataset, run, cache, "--no-eval")) == 0
    shutil.copytree(synthetic_dataset, data)
    metadata = data / "test" / "metadata.jsonl"
    lines = [json.loads(line) for line in metadata.read_text().splitlines()]
    write_parts(metadata, lines, lambda index: index % 8)
    assert main(["evaluate", "--run", str(run), "--data", str(data), "--name", "parted"]) == 0
    return SimpleNamespace(run=run, cache=cache, data=data, metadata=metadata, lines=lines, root=root)


def wrong_parts(parted) -> list[int]:
    """The parts the model's own logits get wrong, their log-probabilities summed (images p and p + 8)."""
    import torch
    from pinscope_trainer.checkpoints import load_checkpoint
    from pinscope_trainer.data import load_split
    from pinscope_trainer.inference import TorchPredictor

    model, info = load_checkpoint(parted.run / "checkpoints" / "best")
    split = load_split(parted.data, "test", info, cache_dir=parted.cache)
    logits, _ = TorchPredictor(model)(split.inputs)
    log_probs = torch.from_numpy(logits).log_softmax(dim=1).numpy()
    truth = split.labels.numpy()
    return [p for p in range(8) if (log_probs[p] + log_probs[p + 8]).argmax() != truth[p]]


def predict_args(parted) -> list[str]:
    best = parted.run / "checkpoints" / "best"
    return ["predict", "--checkpoint", str(best), "--threads", "1", "--no-overlays", "--quiet"]


def test_evaluate_scores_parts_beside_images(parted):
    """evaluate adds the fused per-part result to metrics.json and the report, from the same pass."""
    parts = json.loads((parted.run / "eval" / "parted" / "metrics.json").read_text())["test"]["parts"]
    assert parts["n"] == 8 and parts["cameras"] == 2
    wrong = wrong_parts(parted)
    assert parts["wrong_parts"] == wrong and parts["accuracy"] == pytest.approx(1 - len(wrong) / 8)
    assert "Per part (2 cameras' images" in (parted.run / "eval" / "parted" / "report.md").read_text()


def test_predict_decides_per_part_from_the_rows_as_evaluate_does(parted):
    from pinscope_trainer.cli import main

    out = parted.root / "pred"
    assert main([*predict_args(parted), str(parted.data / "test"), "--out", str(out)]) == 0
    with open(out / "parts.csv", newline="") as f:
        decided = list(csv.DictReader(f))
    assert len(decided) == 8 and {r["images"] for r in decided} == {"2"}
    wrong = sorted(int(r["part"].rsplit("#", 1)[1]) for r in decided if r["correct"] == "False")
    assert wrong == wrong_parts(parted)
    page = (out / "index.html").read_text()
    assert "Per part: every camera's image" in page and page.count("</tr>") == 1 + 8 + 1 + 16  # heads, rows


def test_predict_takes_parts_from_a_station_s_folders_or_none(parted):
    """Images outside any dataset, one folder a part as a station saves them."""
    from pinscope_trainer.cli import main

    for part in range(2):
        folder = parted.root / f"part{part}"
        folder.mkdir()
        for index in (part, part + 8):
            shutil.copy(parted.data / "test" / parted.lines[index]["file_name"], folder / f"cam{index}.png")
    station = parted.root / "station"
    folders = [str(parted.root / "part0"), str(parted.root / "part1")]
    args = [*predict_args(parted), *folders, "--out", str(station), "--view", "centre"]
    assert main([*args, "--parts", "folder"]) == 0
    with open(station / "parts.csv", newline="") as f:
        assert [(Path(r["part"]).name, r["images"], r["true"]) for r in csv.DictReader(f)] == [
            ("part0", "2", ""),
            ("part1", "2", ""),
        ]
    assert main([*args, "--parts", "none"]) == 0
    assert not (station / "parts.csv").exists()  # no parts now: the earlier run's file is not left to mislead


def test_rows_that_put_two_defects_into_one_part_are_refused(parted, tmp_path):
    """One line, exit 2, and the results written before stay as they were."""
    from pinscope_trainer.cli import main

    data = tmp_path / "mixed"
    shutil.copytree(parted.data, data)
    write_parts(data / "test" / "metadata.jsonl", [dict(row) for row in parted.lines], lambda index: 0)
    before = (parted.run / "eval" / "parted" / "metrics.json").read_text()
    assert main(["evaluate", "--run", str(parted.run), "--data", str(data), "--name", "parted"]) == 2
    assert (parted.run / "eval" / "parted" / "metrics.json").read_text() == before
