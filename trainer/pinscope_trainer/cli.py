"""Command line: `python -m pinscope_trainer.cli train|evaluate|attention ...`.

Bad input prints one line `error: <field>: <problem>` on stderr and exits 2; nothing already written
(checkpoints, metrics) is touched by a refused command.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict

from .errors import UsageError


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints the whole usage block
        # "argument --label: invalid choice: ..." -> field "--label"
        if message.startswith("argument ") and ": " in message:
            field, problem = message[len("argument ") :].split(": ", 1)
            raise UsageError(field.split("/")[-1], problem)
        if message.startswith("the following arguments are required: "):
            missing = message.split(": ", 1)[1].split(", ")
            raise UsageError(missing[0].split("/")[-1], f"required (missing: {', '.join(missing)})")
        raise UsageError(self.prog.split()[-1], message)


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated epoch numbers like 300,400,500, got {text!r}"
        ) from None
    return values


def image_size(text: str) -> list[int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h < 8 or w < 8:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be HEIGHTxWIDTH in pixels (each >= 8), like 96x288, got {text!r}"
        ) from None
    return [h, w]


def add_train_parser(sub) -> None:
    from .augment import AugmentOptions
    from .data import LABEL_FIELDS
    from .features.inputs import INPUT_MODES, REFERENCES
    from .features.soart3 import BASES, CHANNEL_MODES
    from .models import ARCHS, PRESETS
    from .train import TASKS, TrainOptions

    d = TrainOptions()
    a = AugmentOptions()
    p = sub.add_parser("train", help="train a model on a PinScope dataset")
    p.add_argument("--data", required=True, help="dataset folder (made by `make render`)")
    p.add_argument("--out", required=True, help="run folder to create (or continue with --resume)")
    p.add_argument(
        "--task",
        choices=TASKS,
        default=d.task,
        help="classify (defect classes) or anomaly (OK renders only: unit-space anomaly maps, AUROC, AUPRO)",
    )
    g = p.add_argument_group("model")
    g.add_argument("--arch", choices=ARCHS, default=d.arch, help="vit (Hugging Face ViT) or resnet18 (CNN baseline)")
    g.add_argument(
        "--preset", choices=list(PRESETS), default=d.preset, help="ViT size (tiny = 192 hidden, 6 layers, 3 heads)"
    )
    g.add_argument("--patch", type=int, default=d.patch, help="ViT patch size (must divide the image size)")
    g.add_argument("--layers", type=int, help="override the preset's layer count")
    g.add_argument("--hidden", type=int, help="override the preset's hidden size")
    g.add_argument("--heads", type=int, help="override the preset's attention heads")
    g.add_argument("--init", help="local ViT folder (config.json + model.safetensors) to start from; head replaced")
    g = p.add_argument_group("data")
    g.add_argument("--label", choices=LABEL_FIELDS, default=d.label, help="what to predict")
    g.add_argument(
        "--input",
        choices=INPUT_MODES,
        default=d.input,
        help="rgb, diff (= render - reference), rgb-diff (both: 6 channels), soart3",
    )
    g.add_argument(
        "--reference",
        choices=REFERENCES,
        default=d.reference,
        help="twin (the sample's defect-free render) or unit (per-view mean of reference/)",
    )
    g.add_argument("--image-size", type=image_size, help="HxW to resize renders to (default: render size)")
    g.add_argument("--soart3-region", type=int, default=d.soart3_region, help="pixels per SOART3 region side")
    g.add_argument("--soart3-tile", type=int, default=d.soart3_tile, help="tile side for --soart3-basis kernels")
    g.add_argument("--soart3-basis", choices=BASES, default=d.soart3_basis)
    g.add_argument("--soart3-channels", choices=CHANNEL_MODES, default=d.soart3_channels)
    g.add_argument("--cache-dir", help="decoded-image cache (default $PINSCOPE_CACHE or ~/.cache/pinscope/trainer)")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--lr", type=float, default=d.lr)
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--warmup", type=float, default=d.warmup, help="warm-up as a fraction of all steps")
    g.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    g.add_argument("--aug-gain", type=float, default=a.gain, help="contrast jitter 1 +/- this")
    g.add_argument("--aug-bias", type=float, default=a.bias, help="brightness offset +/- this")
    g.add_argument("--aug-noise", type=float, default=a.noise, help="Gaussian noise std")
    g.add_argument("--aug-blur", type=float, default=a.blur_prob, help="chance of a slight blur")
    g.add_argument("--no-augment", action="store_true", help="turn all augmentation off")
    g.add_argument(
        "--teacher",
        help="checkpoint folder of a trained model (same inputs) to distil from, "
        "e.g. a resnet18 run's checkpoints/best",
    )
    g.add_argument("--distill-alpha", type=float, default=d.distill_alpha, help="weight of the teacher's soft targets")
    g.add_argument("--distill-temperature", type=float, default=d.distill_temperature)
    g.add_argument(
        "--token-loss",
        type=float,
        default=d.token_loss,
        help="weight of patch-token supervision from each row's defect box (ViT only, training only; 0 = off)",
    )
    g.add_argument("--seed", type=int, default=d.seed)
    prec = g.add_mutually_exclusive_group()
    prec.add_argument(
        "--bf16",
        action="store_true",
        default=None,
        help="bfloat16 autocast (default: on for ViTs on CPUs with avx512_bf16/AMX and on CUDA)",
    )
    prec.add_argument("--fp32", dest="bf16", action="store_false", help="full float32 throughout")
    g.add_argument("--threads", type=int, help="torch CPU threads (default: the cores not busy with other work)")
    g.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:N")
    g = p.add_argument_group("checkpoints")
    g.add_argument("--save-epochs", type=int_list, default=[], help="epochs to keep, e.g. 300,400,500")
    g.add_argument("--save-every", type=int, default=0, help="also keep every K-th epoch")
    g.add_argument("--resume", action="store_true", help="continue the run in --out from checkpoints/last")
    g.add_argument("--no-eval", action="store_true", help="skip the final evaluation")
    g.add_argument("--quiet", action="store_true", help="no progress output")


def options_from_args(args):
    from .augment import AugmentOptions
    from .train import TrainOptions

    aug = (
        AugmentOptions(0.0, 0.0, 0.0, 0.0)
        if args.no_augment
        else AugmentOptions(args.aug_gain, args.aug_bias, args.aug_noise, args.aug_blur)
    )
    fields = set(asdict(TrainOptions()))
    values = {k: v for k, v in vars(args).items() if k in fields}
    return TrainOptions(**{**values, "augment": asdict(aug)})


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="pinscope_trainer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    add_train_parser(sub)
    m = sub.add_parser("pretrain-mae", help="self-supervised ViTMAE pretraining on unlabelled renders (for --init)")
    m.add_argument("--data", required=True, help="dataset folder (train split + reference/ renders are used)")
    m.add_argument("--out", required=True, help="folder for config.json + model.safetensors")
    m.add_argument("--preset", default="tiny")
    m.add_argument("--patch", type=int, default=16)
    m.add_argument("--epochs", type=int, default=10)
    m.add_argument("--batch-size", type=int, default=64)
    m.add_argument("--lr", type=float, default=1e-3)
    m.add_argument("--mask-ratio", type=float, default=0.75)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--bf16", action="store_true")
    m.add_argument("--cache-dir")
    m.add_argument("--quiet", action="store_true")
    e = sub.add_parser("evaluate", help="score a run's checkpoint on validation and test")
    e.add_argument("--run", required=True, help="run folder")
    e.add_argument("--checkpoint", default="best", help="best, last or epoch-NNNN")
    try:
        from .attention.cli import add_parser as add_attention_parser
    except ImportError:
        add_attention_parser = None
    if add_attention_parser is not None:
        add_attention_parser(sub)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    try:
        args = build_parser().parse_args(argv)
        if args.command == "train":
            from .train import train

            train(options_from_args(args))
        elif args.command == "pretrain-mae":
            from .mae import pretrain

            pretrain(
                args.data,
                args.out,
                preset=args.preset,
                patch=args.patch,
                epochs=args.epochs,
                batch_size=args.batch_size,
                lr=args.lr,
                mask_ratio=args.mask_ratio,
                seed=args.seed,
                bf16=args.bf16,
                cache_dir=args.cache_dir,
                quiet=args.quiet,
            )
        elif args.command == "evaluate":
            from .evaluate import evaluate_run

            evaluate_run(args.run, checkpoint=args.checkpoint)
        else:
            return int(args.func(args) or 0)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished epochs are in checkpoints/last; continue with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
