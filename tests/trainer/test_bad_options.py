"""Every bad input of the trainer's commands that used to be a traceback or silently accepted: exit 2,
one stderr line `error: <field>: <problem>` with nothing printed before it (OpenCV's own warnings
included: captured at the file-descriptor level), and every folder the command points at unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pinscope_trainer.cli import main


def tree(folder: Path) -> dict:
    """Every file under folder with its bytes (and whether the folder exists): what 'unchanged' compares."""
    if not folder.exists():
        return {"exists": False}
    if folder.is_file():
        return {"file": folder.read_bytes()}
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else "dir" for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_args):
    """A finished micro ViT run and a ResNet run on a small synthetic dataset (copied before damage)."""
    from pinscope_trainer.synthetic import make_dataset

    root = tmp_path_factory.mktemp("bad_options")
    data = make_dataset(root / "ds", train=24, validation=8, test=8, reference=4)
    cache = root / "cache"
    assert main(tiny_args(data, root / "vit", cache, "--epochs", "1", "--no-eval")) == 0
    assert main(tiny_args(data, root / "cnn", cache, "--epochs", "1", "--no-eval", "--arch", "resnet18")) == 0
    return {"data": data, "vit": root / "vit", "cnn": root / "cnn", "cache": cache, "args": tiny_args}


def corrupt_png_with_matching_hash(data: Path) -> None:
    """A render whose signature and IHDR chunk (size, depth, colour type) are intact and whose image
    data is garbage, with its row's hash updated: the validator (which reads the header) passes it,
    the decoder refuses it (and OpenCV would print warnings of its own)."""
    from pinscope_schema import file_digest

    bad = data / "validation" / "images" / "000002.png"
    bad.write_bytes(bad.read_bytes()[:33] + b"\x00\x00\x01\x00IDAT" + bytes(256))
    meta = data / "validation" / "metadata.jsonl"
    rows = [json.loads(line) for line in meta.read_text().splitlines()]
    for row in rows:
        if row["file_name"] == "images/000002.png":
            row["sha256"]["image"] = file_digest(bad)
    meta.write_text("".join(json.dumps(r) + "\n" for r in rows))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(8, path.stat().st_size // 3)])


# bad values of one option each: appended to a micro training run's command line
OPTION_CASES = {
    "lr -1": ["--lr", "-1"],
    "lr nan": ["--lr", "nan"],
    "weight decay -1": ["--weight-decay", "-1"],
    "label smoothing 5": ["--label-smoothing", "5"],
    "threads -1": ["--threads", "-1"],
    "hidden 6 heads -3": ["--hidden", "6", "--heads", "-3"],
    "patch 0": ["--patch", "0"],
    "layers -1": ["--layers", "-1"],
    "warmup -1": ["--warmup", "-1"],
    "aug blur 5": ["--aug-blur", "5"],
    "save every -1": ["--save-every", "-1"],
    "aug defect contrast 0": ["--aug-defect-contrast", "0"],
    "aug residual 0.5": ["--aug-residual", "0.5"],
    "aug defect contrast on rgb": ["--input", "rgb", "--aug-defect-contrast", "0.5"],
    "aug misregister 5": ["--aug-misregister", "5"],
    "aug misregister against twins": ["--reference", "twin", "--aug-misregister", "0.5"],
}


def case(name: str, runs: dict, tmp: Path) -> tuple[list, list[Path]]:
    """(command line, folders it points at) for one bad input; damage is done to copies in tmp."""
    data, cache, out, micro_args = runs["data"], tmp / "cache", tmp / "run", runs["args"]
    if name in OPTION_CASES:
        return [*micro_args(data, out, cache), *OPTION_CASES[name]], [data, out, cache]
    return folder_case(name, runs, tmp) or damaged_run_case(name, runs, tmp)


def folder_case(name: str, runs: dict, tmp: Path) -> tuple[list, list[Path]] | None:
    """A training run pointed at a bad --out, --cache-dir or dataset; None for the other cases."""
    data, cache, out, micro_args = runs["data"], tmp / "cache", tmp / "run", runs["args"]
    if name == "out empty":  # the test runs it in tmp/here: '' would be that folder
        (tmp / "here").mkdir()
        return micro_args(data, "", cache), [data, tmp / "here", cache]
    if name in ("out is a file", "cache dir is a file"):
        target = out if name == "out is a file" else cache
        target.write_text("a file")
        return micro_args(data, out, cache), [data, out, cache]
    if name == "out in /proc":
        return micro_args(data, "/proc/pinscope-run", cache), [data, cache]
    if name == "aug defect contrast without twins":
        from pinscope_trainer.synthetic import make_dataset

        bare = make_dataset(tmp / "bare", train=24, validation=8, test=8, reference=4, twin=False)
        return [*micro_args(bare, out, cache), "--aug-defect-contrast", "0.5"], [bare, out, cache]
    if name == "png that does not decode":  # the decode cache may keep the splits that did decode (content-keyed)
        copy = tmp / "ds"
        shutil.copytree(data, copy)
        corrupt_png_with_matching_hash(copy)
        return micro_args(copy, out, cache), [copy, out]
    return None


def damaged_run_case(name: str, runs: dict, tmp: Path) -> tuple[list, list[Path]]:
    """A command on a copy of a finished run, damaged as `name` says (or attention asked the wrong thing)."""
    data, cache, out, micro_args = runs["data"], tmp / "cache", tmp / "run", runs["args"]
    run = tmp / "copy"
    shutil.copytree(runs["cnn" if name == "attention on a resnet run" else "vit"], run)
    last = run / "checkpoints" / "last"
    if name in ("run_config not json (resume)", "run_config not json (evaluate)"):
        (run / "run_config.json").write_text("{not json")
        if name.endswith("(resume)"):
            return [*micro_args(data, run, cache, "--epochs", "2"), "--resume"], [data, run, cache]
        return ["evaluate", "--run", str(run), "--checkpoint", "last"], [data, run]
    if name == "truncated trainer_state (resume)":  # the run's own options: only the state file is damaged
        truncate(last / "trainer_state.pt")
        return [*micro_args(data, run, cache, "--epochs", "1", "--no-eval"), "--resume"], [data, run, cache]
    if name.startswith("truncated weights"):
        truncate(last / "model.safetensors")
        if name.endswith("(evaluate)"):
            return ["evaluate", "--run", str(run), "--checkpoint", "last"], [data, run]
        if name.endswith("(attention)"):
            return ["attention", "--run", str(run), "--ckpts", "last", "--out", str(tmp / "report")], [run, tmp]
        return [*micro_args(data, out, cache), "--init", str(last)], [data, run, out, cache]
    report = tmp / "report"
    attention = ["attention", "--run", str(run), "--ckpts", "last"]
    if name == "attention on a resnet run":
        return [*attention, "--out", str(report)], [run, tmp]
    if name == "attention with a missing --data":
        return [*attention, "--data", str(tmp / "gone"), "--out", str(report)], [run, tmp]
    report.write_text("a file")  # attention --out an existing file
    return [*attention, "--out", str(report)], [run, tmp]


BAD = [
    ("lr -1", "--lr", "> 0"),
    ("lr nan", "--lr", "finite"),
    ("weight decay -1", "--weight-decay", ">= 0"),
    ("label smoothing 5", "--label-smoothing", "[0, 1)"),
    ("threads -1", "--threads", ">= 1"),
    ("hidden 6 heads -3", "--heads", ">= 1"),
    ("patch 0", "--patch", ">= 1"),
    ("layers -1", "--layers", ">= 1"),
    ("warmup -1", "--warmup", "[0, 1]"),
    ("aug blur 5", "--aug-blur", "[0, 1]"),
    ("save every -1", "--save-every", ">= 0"),
    ("aug defect contrast 0", "--aug-defect-contrast", "(0, 1]"),
    ("aug residual 0.5", "--aug-residual", "[1, 4]"),
    ("aug defect contrast on rgb", "--aug-defect-contrast", "needs --input diff or rgb-diff"),
    ("aug misregister 5", "--aug-misregister", "[0, 4]"),
    ("aug misregister against twins", "--aug-misregister", "needs --input diff or rgb-diff and --reference unit"),
    ("aug defect contrast without twins", "--aug-defect-contrast", "twin render"),
    ("out empty", "--out", "must name a folder"),
    ("out is a file", "--out", "not a folder"),
    ("cache dir is a file", "--cache-dir", "not a folder"),
    ("out in /proc", "--out", "cannot create"),
    ("run_config not json (resume)", "--out", "not valid JSON"),
    ("run_config not json (evaluate)", "--run", "not valid JSON"),
    ("truncated weights (evaluate)", "--checkpoint", "cannot load"),
    ("truncated weights (attention)", "--ckpts", "cannot load"),
    ("truncated weights (--init)", "--init", "model.safetensors"),
    ("truncated trainer_state (resume)", "--resume", "cannot read"),
    ("png that does not decode", "validation/images/000002.png", "cannot decode"),
    ("attention on a resnet run", "--ckpts", "ViT"),
    ("attention with a missing --data", "--data", "not a PinScope dataset"),
    ("attention --out a file", "--out", "not a folder"),
]


@pytest.mark.parametrize("name,field,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_before_anything_is_written(runs, tmp_path, capfd, monkeypatch, name, field, words):
    argv, folders = case(name, runs, tmp_path)
    if name == "out empty":
        monkeypatch.chdir(tmp_path / "here")
    before = {str(f): tree(f) for f in folders}
    capfd.readouterr()
    code = main(argv)
    out, err = capfd.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: "), lines
    assert words in lines[0], lines[0]
    assert out == ""
    assert {str(f): tree(f) for f in folders} == before
