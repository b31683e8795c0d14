"""The options dataclasses are the command line: flags and defaults come from the fields, checks from
their metadata, and a dataclass refuses a bad value the same way from Python as from the CLI."""

from __future__ import annotations

import dataclasses

import pytest
from pinscope_trainer.augment import AugmentOptions
from pinscope_trainer.cli import COMMANDS, build_parser
from pinscope_trainer.errors import UsageError
from pinscope_trainer.options import defaults_of, from_namespace
from pinscope_trainer.train import TrainOptions

# Every flag `train` had before the parser was generated (README, Makefile and docs use them).
TRAIN_FLAGS = (
    "--data --out --arch --preset --patch --layers --hidden --heads --init --label --input --reference "
    "--image-size --soart3-region --soart3-tile --soart3-basis --soart3-channels --cache-dir --epochs "
    "--batch-size --lr --weight-decay --warmup --label-smoothing --aug-gain --aug-bias --aug-noise --aug-blur "
    "--no-augment --teacher --distill-alpha --distill-temperature --token-loss --seed --bf16 --fp32 --threads "
    "--device --save-epochs --save-every --resume --no-eval --quiet"
).split()
MAE_FLAGS = "--data --out --preset --patch --epochs --batch-size --lr --mask-ratio --seed --bf16 --cache-dir --quiet"
ATTENTION_FLAGS = (
    "--run --ckpts --out --methods --samples --data --split --fusion --discard --tolerance --limit --batch-size --seed"
)


def flags_of(command: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {s for action in sub.choices[command]._actions for s in action.option_strings} - {"-h", "--help"}


@pytest.mark.parametrize(
    "command,expected",
    [("train", TRAIN_FLAGS), ("pretrain-mae", MAE_FLAGS.split()), ("attention", ATTENTION_FLAGS.split())],
)
def test_every_existing_flag_is_still_there(command, expected):
    assert set(expected) <= flags_of(command)


def parse(*argv):
    args = build_parser().parse_args(list(argv))
    return from_namespace(COMMANDS[args.command].options, args)


def test_train_defaults_are_the_dataclass_defaults_and_the_saved_shape_is_unchanged(tmp_path):
    opts = parse("train", "--data", "d", "--out", str(tmp_path / "run"))
    assert opts == TrainOptions(data="d", out=str(tmp_path / "run"))
    saved = dataclasses.asdict(opts)
    # run_config.json of older runs stores augmentation as this dict: resuming them compares against it
    assert saved["augment"] == {"gain": 0.1, "bias": 0.1, "noise": 0.05, "blur_prob": 0.2}
    assert (opts.epochs, opts.batch_size, opts.lr, opts.input, opts.reference, opts.bf16) == (
        25,
        32,
        5e-4,
        "diff",
        "unit",
        None,
    )
    assert defaults_of(TrainOptions)["augment"] == saved["augment"]
    assert "out" not in opts.comparable() and "lr" in opts.comparable()


def test_flags_turn_into_typed_values(tmp_path):
    out = str(tmp_path / "run")
    opts = parse(
        "train",
        "--data",
        "d",
        "--out",
        out,
        "--no-augment",
        "--fp32",
        "--save-epochs",
        "5,10",
        "--image-size",
        "96x288",
    )
    assert opts.augment == AugmentOptions.off() and opts.bf16 is False
    assert opts.save_epochs == [5, 10] and opts.image_size == [96, 288]
    assert parse("train", "--data", "d", "--out", out, "--bf16", "--aug-blur", "0.5").bf16 is True
    assert parse("train", "--data", "d", "--out", out, "--aug-blur", "0.5").augment.blur_prob == 0.5
    assert parse("attention", "--run", "r", "--methods", "cls,gradient").methods == ("cls", "gradient")


def test_options_are_frozen_and_check_themselves_from_python(tmp_path):
    opts = TrainOptions(data="d", out=str(tmp_path / "run"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.quiet = True
    with pytest.raises(UsageError) as err:
        dataclasses.replace(opts, lr=-1.0)
    assert (err.value.field, err.value.problem) == ("--lr", "must be a finite number > 0, got -1")
    with pytest.raises(UsageError) as err:
        AugmentOptions(blur_prob=1.5)
    assert err.value.field == "--aug-blur"
