"""Bad input: one line `error: <field>: <problem>` on stderr, exit 2, nothing already written is lost."""

from __future__ import annotations

import json

import pytest
from pinscope_trainer.cli import main


def run_main(args, capsys):
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def expect_error(args, capsys, field, *words):
    code, err = run_main(args, capsys)
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"error: {field}: "), err
    for word in words:
        assert word in err[0], err[0]
    return err[0]


def test_missing_dataset_folder(tiny_args, tmp_path, capsys, cache_dir):
    expect_error(tiny_args(tmp_path / "nope", tmp_path / "run", cache_dir), capsys, "--data", "not a folder")
    assert not (tmp_path / "run").exists()


def test_invalid_dataset_reports_the_validator(tiny_args, dataset_copy, tmp_path, capsys, cache_dir):
    (dataset_copy / "train" / "images" / "000003.png").unlink()
    expect_error(
        tiny_args(dataset_copy, tmp_path / "run", cache_dir), capsys, "--data", "train/images/000003.png", "missing"
    )


def test_corrupt_png_names_the_file(tiny_args, dataset_copy, tmp_path, capsys, cache_dir):
    """A PNG that is garbage but matches its recorded hash gets past the validator; decoding names it."""
    from pinscope_schema import file_digest

    bad = dataset_copy / "validation" / "images" / "000002.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    meta = dataset_copy / "validation" / "metadata.jsonl"
    rows = [json.loads(line) for line in meta.read_text().splitlines()]
    for row in rows:
        if row["file_name"] == "images/000002.png":
            row["sha256"]["image"] = file_digest(bad)
    meta.write_text("".join(json.dumps(r) + "\n" for r in rows))
    expect_error(
        tiny_args(dataset_copy, tmp_path / "run", cache_dir), capsys, "validation/images/000002.png", "cannot decode"
    )


def test_empty_validation_split(tiny_args, tmp_path, capsys, cache_dir):
    from pinscope_trainer.synthetic import make_dataset

    data = make_dataset(tmp_path / "ds", train=8, validation=0, test=4, reference=2)
    expect_error(tiny_args(data, tmp_path / "run", cache_dir), capsys, "--data", "'validation'", "empty")


@pytest.mark.parametrize(
    "extra,field,words",
    [
        (("--label", "colour"), "--label", ("colour", "okng")),
        (("--input", "depth"), "--input", ("soart3",)),
        (("--patch", "7"), "--patch", ("must divide",)),
        (("--save-epochs", "1,99"), "--save-epochs", ("1..2",)),
        (("--save-epochs", "ten"), "--save-epochs", ("300,400,500",)),
        (("--image-size", "96"), "--image-size", ("HEIGHTxWIDTH",)),
        (("--soart3-tile", "3", "--soart3-basis", "kernels", "--input", "soart3"), "--soart3-tile", ("divide",)),
    ],
)
def test_bad_options(tiny_args, synthetic_dataset, tmp_path, capsys, cache_dir, extra, field, words):
    expect_error(tiny_args(synthetic_dataset, tmp_path / "run", cache_dir, *extra), capsys, field, *words)


def test_twin_reference_without_twins(tiny_args, tmp_path, capsys, cache_dir):
    from pinscope_trainer.synthetic import make_dataset

    data = make_dataset(tmp_path / "ds", train=8, validation=4, test=4, reference=2, twin=False)
    expect_error(
        tiny_args(data, tmp_path / "run", cache_dir, "--input", "diff", "--reference", "twin"),
        capsys,
        "--reference",
        "unit",
    )


def test_init_that_is_not_a_vit(tiny_args, synthetic_dataset, tmp_path, capsys, cache_dir):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    expect_error(
        tiny_args(synthetic_dataset, tmp_path / "run", cache_dir, "--init", str(folder)),
        capsys,
        "--init",
        "not a ViT",
        "bert",
    )
    expect_error(
        tiny_args(synthetic_dataset, tmp_path / "run2", cache_dir, "--init", str(tmp_path / "none")),
        capsys,
        "--init",
        "config.json",
    )


def test_init_from_a_previous_run_works(tiny_args, synthetic_dataset, tmp_path, capsys, cache_dir):
    first = tmp_path / "first"
    assert main(tiny_args(synthetic_dataset, first, cache_dir, "--epochs", "1", "--no-eval")) == 0
    second = tmp_path / "second"
    init = first / "checkpoints" / "last"
    assert (
        main(
            tiny_args(
                synthetic_dataset,
                second,
                cache_dir,
                "--epochs",
                "1",
                "--no-eval",
                "--label",
                "okng",
                "--init",
                str(init),
            )
        )
        == 0
    )
    from pinscope_trainer.checkpoints import load_checkpoint

    model, info = load_checkpoint(second / "checkpoints" / "last")
    assert info["labels"] == ["ok", "ng"] and model.config.num_labels == 2


def test_resume_with_another_config_keeps_the_run(tiny_args, synthetic_dataset, tmp_path, capsys, cache_dir):
    run = tmp_path / "run"
    assert main(tiny_args(synthetic_dataset, run, cache_dir, "--epochs", "1", "--no-eval")) == 0
    before = (run / "metrics.csv").read_text()
    expect_error(
        tiny_args(synthetic_dataset, run, cache_dir, "--epochs", "1", "--no-eval"), capsys, "--out", "--resume"
    )
    expect_error(
        tiny_args(synthetic_dataset, run, cache_dir, "--epochs", "1", "--no-eval", "--lr", "0.1", "--resume"),
        capsys,
        "--resume",
        "lr",
    )
    assert (run / "metrics.csv").read_text() == before
    assert (run / "checkpoints" / "last" / "model.safetensors").is_file()


def test_evaluate_needs_a_run_folder(tmp_path, capsys):
    expect_error(["evaluate", "--run", str(tmp_path)], capsys, "--run", "run_config.json")


def test_resume_of_a_run_made_before_an_option_existed(tiny_args, synthetic_dataset, tmp_path, cache_dir):
    """A run folder written by an older trainer lacks newer options' keys: they count as their defaults."""
    run = tmp_path / "run"
    assert main(tiny_args(synthetic_dataset, run, cache_dir, "--epochs", "1", "--no-eval")) == 0
    config_file = run / "run_config.json"
    config = json.loads(config_file.read_text())
    del config["args"]["token_loss"]  # as in runs made before --token-loss was added
    config_file.write_text(json.dumps(config))
    before = (run / "metrics.csv").read_text()
    assert main(tiny_args(synthetic_dataset, run, cache_dir, "--epochs", "1", "--no-eval", "--resume")) == 0
    assert (run / "metrics.csv").read_text() == before  # accepted, and nothing left to train
    config["args"]["token_loss"] = 0.5  # a real difference is still refused
    config_file.write_text(json.dumps(config))
    assert main(tiny_args(synthetic_dataset, run, cache_dir, "--epochs", "1", "--no-eval", "--resume")) == 2
