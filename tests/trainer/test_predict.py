"""The model leaves the lab: predict on files/folders/globs, the portable checkpoint (from_pretrained,
the reference it carries), evaluate on another dataset, export to ONNX, and predict's bad input."""

from __future__ import annotations

import csv
import json
import re
import shutil

import cv2
import numpy as np
import pytest
import torch
from pinscope_trainer.checkpoints import load_checkpoint
from pinscope_trainer.cli import main
from pinscope_trainer.data import load_split
from pinscope_trainer.inference import TorchPredictor, logits_and_cls_attention
from pinscope_trainer.portable import REFERENCE_FILE, PortableReference
from pinscope_trainer.synthetic import make_dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A micro ViT (fp32, so torch, ONNX and from_pretrained agree to float precision) and its data."""
    root = tmp_path_factory.mktemp("predict")
    data = make_dataset(root / "ds", train=48, validation=16, test=16, reference=4)
    run = root / "run"
    args = ["train", "--data", str(data), "--out", str(run), "--cache-dir", str(root / "cache"), "--preset", "micro"]
    args += ["--patch", "8", "--epochs", "3", "--batch-size", "16", "--threads", "1", "--quiet", "--fp32"]
    args += ["--input", "diff", "--lr", "2e-3"]
    assert main(args) == 0
    return {"root": root, "data": data, "run": run, "best": run / "checkpoints" / "best", "cache": root / "cache"}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def predict(trained, out, *args):
    return main(["predict", "--checkpoint", str(trained["best"]), "--out", str(out), "--threads", "1", *args])


def test_predict_on_the_test_split_gives_the_accuracy_evaluate_reports(trained, tmp_path, capsys):
    out = tmp_path / "pred"
    assert predict(trained, out, str(trained["data"] / "test"), "--batch-size", "5") == 0
    rows = read_csv(out / "predictions.csv")
    assert len(rows) == 16 and all(not r["error"] for r in rows)
    metrics = json.loads((trained["run"] / "eval" / "metrics.json").read_text())
    accuracy = sum(r["correct"] == "True" for r in rows) / len(rows)
    assert accuracy == metrics["test"]["accuracy"]
    with open(trained["run"] / "eval" / "mistakes.csv", newline="") as f:
        missed = {m["file_name"] for m in csv.DictReader(f) if m["split"] == "test"}
    wrong = {"test/" + r["file"].split("/test/")[1] for r in rows if r["correct"] == "False"}
    assert wrong == missed
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    labels = ["ok", "retract", "tilt_x", "tilt_y"]
    for r in records:
        assert [name for name, _ in r["top3"]][0] == r["class"] and len(r["top3"]) == 3
        assert sum(p for _, p in r["top3"]) <= 1.0 + 1e-6 and r["class"] in labels
        assert r["okng"] == ("ok" if r["class"] == "ok" else "ng")
        if r["okng"] == "ng":  # the pin the attention peak is on, named like the rows' pin, with its mass
            assert re.fullmatch(r"\d,\d", r["pin"]) and 0.0 <= r["pin_score"] <= 1.0
        assert (out / r["overlay"]).stat().st_size > 200
    page = (out / "index.html").read_text()
    assert page.count("<img ") == 16 and f"accuracy {accuracy:.2%}" in page
    assert f"accuracy {accuracy:.2%} on 16 labelled images" in capsys.readouterr().out


def test_the_checkpoint_folder_is_portable(trained, tmp_path):
    """from_pretrained loads it (same logits as predict on the same tensor); copied away from its
    dataset, with images outside any dataset, it predicts what it predicted in place."""
    from transformers import ViTForImageClassification

    model, info = load_checkpoint(trained["best"])
    hf = ViTForImageClassification.from_pretrained(trained["best"]).eval()
    assert hf.config.id2label == {0: "ok", 1: "retract", 2: "tilt_x", 3: "tilt_y"} and hf.config.label2id["ok"] == 0
    x = load_split(trained["data"], "test", info, cache_dir=trained["cache"]).inputs
    ours, _ = TorchPredictor(model)(x)
    with torch.no_grad():
        theirs = hf(pixel_values=x).logits.numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    reference = PortableReference.load(trained["best"])
    assert set(reference.views) == {"centre"} and reference.views["centre"].shape == (32, 96, 3)
    assert reference.pins["centre"].shape == (27, 4) and reference.grid_cols == 3
    alone = tmp_path / "shipped"
    shutil.copytree(trained["best"], alone)
    images = tmp_path / "camera"
    images.mkdir()
    for p in sorted((trained["data"] / "test" / "images").glob("*.png"))[:6]:
        shutil.copy(p, images / f"shot-{p.name}")
    assert main(["predict", "--checkpoint", str(alone), str(images / "*.png"), "--out", str(tmp_path / "a")]) == 0
    assert (
        predict(
            trained, tmp_path / "b", *[str(trained["data"] / "test" / "images" / f"00000{i}.png") for i in range(6)]
        )
        == 0
    )
    away, here = read_csv(tmp_path / "a" / "predictions.csv"), read_csv(tmp_path / "b" / "predictions.csv")
    assert [r["class"] for r in away] == [r["class"] for r in here] and all(r["true"] == "" for r in away)


def test_cls_attention_is_the_last_layers_eager_attention(trained):
    from pinscope_trainer.attention.capture import capture

    model, info = load_checkpoint(trained["best"])
    x = load_split(trained["data"], "test", info, cache_dir=trained["cache"]).inputs[:4]
    with torch.no_grad():
        logits, cls = logits_and_cls_attention(model, x)
    captured = capture(model, x, gradients=False)
    np.testing.assert_allclose(cls.numpy(), captured.attentions[-1][:, :, 0, 1:], atol=1e-5)
    np.testing.assert_allclose(logits.numpy(), captured.logits, atol=1e-5)


def test_reference_of_another_line_swaps_in(trained, tmp_path):
    """--reference DIR: a dataset's reference/ (views from its rows) or plain images (one for all)."""
    test = str(trained["data"] / "test")
    assert predict(trained, tmp_path / "own", test) == 0
    assert predict(trained, tmp_path / "rows", test, "--reference", str(trained["data"] / "reference")) == 0
    plain = tmp_path / "plain"
    shutil.copytree(trained["data"] / "reference" / "images", plain)
    assert predict(trained, tmp_path / "plain_out", test, "--reference", str(plain)) == 0
    own = read_csv(tmp_path / "own" / "predictions.csv")
    for other in ("rows", "plain_out"):
        assert read_csv(tmp_path / other / "predictions.csv") == own  # the same images: the same unit reference
    dark = tmp_path / "dark"
    dark.mkdir()
    for p in plain.glob("*.png"):
        cv2.imwrite(str(dark / p.name), cv2.imread(str(p)) // 3)
    assert predict(trained, tmp_path / "dark_out", test, "--reference", str(dark)) == 0
    changed = [r["confidence"] for r in read_csv(tmp_path / "dark_out" / "predictions.csv")]
    assert changed != [r["confidence"] for r in own]


def test_evaluate_on_another_dataset_writes_eval_name(trained, tmp_path, capsys):
    other = make_dataset(tmp_path / "line2", train=8, validation=8, test=12, reference=4, seed=7)
    before = (trained["run"] / "eval" / "metrics.json").read_text()
    assert main(["evaluate", "--run", str(trained["run"]), "--data", str(other), "--name", "line2"]) == 0
    assert "on line2" in capsys.readouterr().out
    result = trained["run"] / "eval" / "line2"
    for name in ("metrics.json", "confusion.json", "confusion.png", "mistakes.csv", "curves.png", "report.md"):
        assert (result / name).is_file(), name
    assert (trained["run"] / "eval" / "metrics.json").read_text() == before  # the run's own results stay
    metrics = json.loads((result / "metrics.json").read_text())
    assert metrics["test"]["n"] == 12 and "scored on" in (result / "report.md").read_text()
    # predict with that line's own reference renders gives the accuracy evaluate reports for it
    assert predict(trained, tmp_path / "p", str(other / "test"), "--reference", str(other)) == 0
    rows = read_csv(tmp_path / "p" / "predictions.csv")
    assert sum(r["correct"] == "True" for r in rows) / 12 == metrics["test"]["accuracy"]


def test_onnx_export_matches_torch_and_predicts_the_same(trained, tmp_path, capsys):
    shipped = tmp_path / "ckpt"
    shutil.copytree(trained["best"], shipped)
    assert main(["export", "--checkpoint", str(shipped), "--onnx"]) == 0
    line = capsys.readouterr().out
    worst = float(re.search(r"difference\| onnxruntime vs torch fp32 ([0-9.e+-]+) over 16 test images", line).group(1))
    assert worst <= 1e-4 and line.rstrip().endswith("ok")
    import onnxruntime as ort

    session = ort.InferenceSession(str(shipped / "model.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 7):  # the batch axis is dynamic
        logits, attention = session.run(None, {"pixel_values": np.zeros((batch, 3, 32, 96), np.float32)})
        assert logits.shape == (batch, 4) and attention.shape == (batch, 2, 48)
    test = str(trained["data"] / "test")
    common = ["--checkpoint", str(shipped), test, "--threads", "1"]
    assert main(["predict", *common, "--out", str(tmp_path / "t")]) == 0
    assert main(["predict", *common, "--out", str(tmp_path / "o"), "--backend", "onnx"]) == 0
    torch_rows, onnx_rows = read_csv(tmp_path / "t" / "predictions.csv"), read_csv(tmp_path / "o" / "predictions.csv")
    assert [(r["class"], r["pin"]) for r in torch_rows] == [(r["class"], r["pin"]) for r in onnx_rows]
    assert (
        max(abs(float(a["confidence"]) - float(b["confidence"])) for a, b in zip(torch_rows, onnx_rows, strict=True))
        < 1e-3
    )


def test_a_folder_run_keeps_going_past_a_bad_image_and_warns_on_another_aspect(trained, tmp_path, capsys):
    images = tmp_path / "mixed"
    images.mkdir()
    for p in sorted((trained["data"] / "test" / "images").glob("*.png"))[:3]:
        shutil.copy(p, images / p.name)
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    square = cv2.imread(str(images / "000000.png"))
    cv2.imwrite(str(images / "square.jpg"), cv2.resize(square, (64, 64)))
    code = predict(trained, tmp_path / "out", str(images))
    assert code == 1  # documented: some images could not be read, the others were predicted
    rows = {r["file"].rsplit("/", 1)[1]: r for r in read_csv(tmp_path / "out" / "predictions.csv")}
    assert rows["broken.png"]["error"].startswith("cannot decode") and rows["broken.png"]["class"] == ""
    assert all(rows[n]["class"] and not rows[n]["error"] for n in ("000000.png", "square.jpg"))
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "square.jpg is 64x64" in warnings[0] and "resized" in warnings[0]


def test_an_interrupted_run_resumes_from_its_journal(trained, tmp_path):
    out = tmp_path / "out"
    test = str(trained["data"] / "test")
    assert predict(trained, out, test, "--batch-size", "4") == 0
    journal = out / "predictions.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    records[0]["confidence"] = 0.123456  # marks a row the second run must reuse, not recompute
    kept = records[:9]
    journal.write_text("".join(json.dumps(r) + "\n" for r in kept) + '{"file": "cut sh')  # as a kill leaves it
    (out / "predictions.csv").unlink()
    assert predict(trained, out, test, "--batch-size", "4") == 0
    rows = read_csv(out / "predictions.csv")
    assert len(rows) == 16 and rows[0]["confidence"] == "0.123456"
    assert [r["file"] for r in rows] == [r["file"] for r in records]
    assert len(journal.read_text().splitlines()) == 16


def test_pin_at_peak_reads_the_pin_under_the_top_patch():
    from pinscope_trainer.attention.scores import pin_at_peak

    boxes = [[0, 0, 8, 8], [8, 0, 16, 8], [16, 8, 24, 16]]  # three pins on a 2 x 3 grid of 8 px patches
    patch_map = np.array([0.1, 0.1, 0.0, 0.0, 0.0, 0.8])  # the bottom-right patch, pin 2's box
    pin, mass, peak = pin_at_peak(patch_map, (2, 3), 8, boxes)
    assert (pin, peak) == (2, (20.0, 12.0)) and mass == pytest.approx(0.8)
    pin, _, _ = pin_at_peak(np.array([0.0, 0.0, 0.0, 0.9, 0.1, 0.0]), (2, 3), 8, boxes)
    assert pin == 0  # no box covers the bottom-left patch: the nearest box centre
    straddling = [[4, 0, 12, 8], [12, 0, 20, 8]]  # two pins share the top-middle patch
    pin, mass, _ = pin_at_peak(np.array([0.0, 0.6, 0.3, 0.0, 0.0, 0.1]), (2, 3), 8, straddling)
    assert pin == 1 and mass == pytest.approx(0.3 * 0.5 + 0.6 * 0.5)  # the pin with more of the map


def test_reference_views_are_looked_up_per_camera():
    views = {"left": np.zeros((2, 2, 3)), "right": np.ones((2, 2, 3))}
    reference = PortableReference(views, {"left": np.zeros((1, 4))}, 3)
    assert reference.view_for("right").mean() == 1.0 and reference.view_for(None) is None
    assert reference.pins_for("right") is not None  # one camera's pins: used for every camera
    assert REFERENCE_FILE == "reference.safetensors"


def tree(folder):
    """Every file under folder with its bytes: what 'unchanged' compares."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def bad_case(name, trained, tmp_path):
    """(predict arguments after --checkpoint CKPT, the checkpoint folder) for one kind of bad input."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained["best"], ckpt)
    image = trained["data"] / "test" / "images" / "000001.png"
    pixels = cv2.imread(str(image))
    target = tmp_path / "in"
    target.mkdir()
    if name == "zero-byte image":
        (target / "x.png").write_bytes(b"")
    elif name == "corrupt image":
        (target / "x.png").write_bytes(image.read_bytes()[:200])
    elif name == "grey image":
        cv2.imwrite(str(target / "x.png"), cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY))
    elif name == "RGBA image":
        cv2.imwrite(str(target / "x.png"), cv2.cvtColor(pixels, cv2.COLOR_BGR2BGRA))
    elif name == "not an image":
        (target / "x.png").write_text("hello")
    else:
        shutil.copy(image, target / "x.png")
    args = [str(target / "x.png")]
    if name == "folder without images":
        (target / "x.png").unlink()
        (target / "notes.txt").write_text("no pictures here")
        args = [str(target)]
    elif name == "missing image":
        args = [str(target / "nope.png")]
    elif name == "reference of another size":
        small = tmp_path / "small_ref"
        small.mkdir()
        cv2.imwrite(str(small / "r.png"), cv2.resize(pixels, (48, 16)))
        args += ["--reference", str(small)]
    elif name == "reference without images":
        (tmp_path / "empty_ref").mkdir()
        args += ["--reference", str(tmp_path / "empty_ref")]
    elif name == "truncated weights":
        weights = ckpt / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    elif name == "preprocess.json not JSON":
        (ckpt / "preprocess.json").write_text("{not json")
    elif name == "not a checkpoint":
        shutil.rmtree(ckpt)
        ckpt.mkdir()
    elif name == "checkpoint without its reference":
        (ckpt / REFERENCE_FILE).unlink()
    elif name == "twin model without --reference":
        info = json.loads((ckpt / "preprocess.json").read_text())
        (ckpt / "preprocess.json").write_text(json.dumps({**info, "reference": "twin"}))
    elif name == "unknown view":
        args += ["--view", "left"]
    elif name == "onnx backend without model.onnx":
        args += ["--backend", "onnx"]
    elif name == "out is a file":
        shutil.rmtree(tmp_path / "out")
        (tmp_path / "out").write_text("a file")
    elif name == "batch size 0":
        args += ["--batch-size", "0"]
    return args, ckpt


BAD = [
    ("zero-byte image", "x.png", "empty file"),
    ("corrupt image", "x.png", "cannot decode"),
    ("grey image", "x.png", "1 channel"),
    ("RGBA image", "x.png", "4 channels"),
    ("not an image", "x.png", "not a PNG or JPEG"),
    ("folder without images", "IMAGES", "no PNG/JPEG images"),
    ("missing image", "IMAGES", "no such file"),
    ("reference of another size", "--reference", "48x16"),
    ("reference without images", "--reference", "no PNG/JPEG"),
    ("truncated weights", "--checkpoint", "cannot load"),
    ("preprocess.json not JSON", "--checkpoint", "preprocess.json"),
    ("not a checkpoint", "--checkpoint", "not a checkpoint folder"),
    ("checkpoint without its reference", "--reference", "reference.safetensors"),
    ("twin model without --reference", "--reference", "twin"),
    ("unknown view", "--view", "centre"),
    ("onnx backend without model.onnx", "--backend", "export"),
    ("out is a file", "--out", "not a folder"),
    ("batch size 0", "--batch-size", ">= 1"),
]


@pytest.mark.parametrize("name,field,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(trained, tmp_path, capsys, name, field, words):
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("a previous run's file")
    args, ckpt = bad_case(name, trained, tmp_path)
    before = tree(tmp_path)
    capsys.readouterr()
    code = main(["predict", "--checkpoint", str(ckpt), "--out", str(out), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith("error: ") and err[0].split(": ")[1].endswith(field), err[0]
    assert words in err[0], err[0]
    assert tree(tmp_path) == before
