"""`train`'s options: the dataclass that is the command line (options.py generates the parser from its
fields) and checks itself in one place, before anything is written."""

from __future__ import annotations

from dataclasses import dataclass

from .augment import AugmentOptions
from .data import LABEL_FIELDS
from .errors import UsageError
from .features.inputs import ALIGNMENTS, INPUT_MODES, REFERENCES
from .features.line_scale import LINE_SCALES
from .features.soart3 import BASES, CHANNEL_MODES, Soart3Options
from .hardware import check_device_name
from .loop import BEST_BY
from .models import ARCHS, PRESETS
from .multilabel import is_multilabel
from .options import Options, check_output_folder, image_size, int_list, nested, option

TASKS = ("classify", "anomaly")  # anomaly: OK-only, no defect sample is read (anomaly/run.py, docs/trainer.md)


@dataclass(frozen=True)
class TrainOptions(Options):
    """`train`: every option of a run. Fields with affects_result=False may change on --resume."""

    data: str = option(help="dataset folder (made by `make render`)", required=True, affects_result=False)
    out: str = option(help="run folder to create (or continue with --resume)", required=True, affects_result=False)
    task: str = option(
        "classify",
        "classify (defect classes) or anomaly (OK renders only: unit-space anomaly maps, AUROC, AUPRO)",
        choices=TASKS,
    )
    arch: str = option("vit", "vit (Hugging Face ViT) or resnet18 (CNN baseline)", choices=ARCHS, group="model")
    preset: str = option(
        "tiny", "ViT size (tiny = 192 hidden, 6 layers, 3 heads)", choices=tuple(PRESETS), group="model"
    )
    patch: int = option(16, "ViT patch size (must divide the image size)", at_least=1, group="model")
    layers: int | None = option(None, "override the preset's layer count", at_least=1, group="model")
    hidden: int | None = option(None, "override the preset's hidden size", at_least=1, group="model")
    heads: int | None = option(None, "override the preset's attention heads", at_least=1, group="model")
    init: str | None = option(
        None,
        "local ViT folder (config.json + model.safetensors) to start from; head kept for the same labels",
        group="model",
    )
    label: str = option("label", "what to predict", choices=LABEL_FIELDS, group="data")
    # with the unit reference: 98-99 % in the accuracy study (docs/trainer.md)
    input: str = option(
        "diff",
        "rgb, diff (= render - reference), rgb-diff (both: 6 channels), soart3",
        choices=INPUT_MODES,
        group="data",
    )
    reference: str = option(
        "unit",
        "twin (the sample's defect-free render), unit (per-view mean of reference/) or nearest (per image "
        "the mean of the --nearest reference renders of its view nearest in tone: the line's conditions)",
        choices=REFERENCES,
        group="data",
    )
    nearest: int = option(3, "reference renders per image for --reference nearest", at_least=1, group="data")
    align: str = option(
        "none",
        "match the reference to each image before diff/rgb-diff: none, gain (per channel a * ref + b), "
        "register (the reference warped onto the image, then gain), register-tones (warped, then each "
        "channel's tone curve matched) or register-image (the image warped onto the reference, then gain)",
        choices=ALIGNMENTS,
        group="data",
    )
    line_scale: str = option(
        "residual",
        "residual: on another line (evaluate --data, predict --reference) the difference is scaled by the "
        "training unit space's OK residual over that line's; none: compared as it is",
        choices=LINE_SCALES,
        group="data",
    )
    image_size: list | None = option(
        None, "HxW to resize renders to (default: render size)", parse=image_size, metavar="HxW", group="data"
    )
    soart3_region: int = option(4, "pixels per SOART3 region side", at_least=1, group="data")
    soart3_tile: int = option(2, "tile side for --soart3-basis kernels", at_least=1, group="data")
    soart3_basis: str = option("raw", "SOART3 region vectors", choices=BASES, group="data")
    soart3_channels: str = option("concat", "SOART3 colour channels", choices=CHANNEL_MODES, group="data")
    cache_dir: str | None = option(
        None,
        "decoded-image cache (default $PINSCOPE_CACHE or ~/.cache/pinscope/trainer)",
        affects_result=False,
        group="data",
    )
    epochs: int = option(25, "epochs to train", at_least=1, group="training")
    batch_size: int = option(32, "images per step", at_least=1, group="training")
    lr: float = option(5e-4, "peak learning rate (AdamW)", above=0, group="training")
    weight_decay: float = option(0.05, "AdamW weight decay", at_least=0, group="training")
    warmup: float = option(0.1, "warm-up as a fraction of all steps", at_least=0, at_most=1, group="training")
    label_smoothing: float = option(0.1, "label smoothing of the cross-entropy", at_least=0, below=1, group="training")
    augment: AugmentOptions = nested(
        AugmentOptions,
        "training",
        disable=(
            "--no-augment",
            "turn the photometric augmentation off (--aug-gain, -bias, -noise, -blur; "
            "not --aug-defect-contrast or --aug-residual)",
        ),
    )
    aug_defect_contrast: float = option(
        1.0,
        "each defect's difference from its twin scaled by a per-sample factor in [this, 1] (augment.py; "
        "1 = off; needs twins)",
        above=0,
        at_most=1,
        group="training",
    )
    aug_residual: float = option(
        1.0,
        "each twin's own difference (the OK residual) scaled by a per-sample factor in [1, this] (1 = off)",
        at_least=1,
        at_most=4,
        group="training",
    )
    aug_misregister: float = option(
        0.0,
        "each unit-space difference given what a registration off by up to this many pixels leaves "
        "(a random shift and roll; augment.py; 0 = off)",
        at_least=0,
        at_most=4,
        group="training",
    )
    teacher: str | None = option(
        None,
        "checkpoint folder of a trained model (same inputs) to distil from, e.g. a resnet18 run's checkpoints/best",
        group="training",
    )
    distill_alpha: float = option(0.5, "weight of the teacher's soft targets", at_least=0, at_most=1, group="training")
    distill_temperature: float = option(2.0, "softmax temperature of distillation", above=0, group="training")
    token_loss: float = option(
        0.0,
        "weight of patch-token supervision from each row's defect box (ViT only, training only; 0 = off)",
        at_least=0,
        group="training",
    )
    seed: int = option(0, "seed of the model init, batch order and augmentation", at_least=0, group="training")
    bf16: bool | None = option(
        None,
        "bfloat16 autocast (default: on for ViTs on CPUs with avx512_bf16/AMX and on CUDA)",
        negative="--fp32",
        group="training",
    )
    threads: int | None = option(
        None,
        "torch CPU threads (default: the cores not busy with other work)",
        at_least=1,
        affects_result=False,
        group="training",
    )
    device: str = option(
        "auto", "auto (cuda when available), cpu, cuda, cuda:N", affects_result=False, group="training"
    )
    save_epochs: list = option(
        [], "epochs to keep, e.g. 300,400,500", parse=int_list, affects_result=False, group="checkpoints"
    )
    save_every: int = option(
        0, "also keep every K-th epoch (0 = off)", at_least=0, affects_result=False, group="checkpoints"
    )
    best_by: str = option(
        "loss",
        "what picks checkpoints/best: the lowest validation loss (ties: higher accuracy) or the highest "
        "validation accuracy (ties: lower loss)",
        choices=BEST_BY,
        group="checkpoints",
    )
    resume: bool = option(
        False, "continue the run in --out from checkpoints/last", affects_result=False, group="checkpoints"
    )
    no_eval: bool = option(False, "skip the final evaluation", affects_result=False, group="checkpoints")
    quiet: bool = option(False, "no progress output", affects_result=False, group="checkpoints")

    def check(self) -> None:
        bad = [e for e in self.save_epochs if not 1 <= e <= self.epochs]
        if bad:
            raise UsageError("--save-epochs", f"epochs must lie in 1..{self.epochs} (--epochs), got {bad[0]}")
        if self.arch == "vit":
            hidden, _, heads, _ = PRESETS[self.preset]
            hidden, heads = self.hidden or hidden, self.heads or heads
            if hidden % heads:
                raise UsageError("--heads", f"must divide the hidden size ({hidden}), got {heads}")
        if self.token_loss and self.arch != "vit":
            raise UsageError("--token-loss", f"needs --arch vit (patch tokens), got {self.arch!r}; use --token-loss 0")
        if is_multilabel(self.label) and (self.token_loss or self.teacher):
            name = "--token-loss" if self.token_loss else "--teacher"
            raise UsageError(name, "trains one class per image; --label pins is multi-label: leave it out")
        if self.input == "soart3":
            self.soart3_options().check()
        if self.uses_twins and self.input not in ("diff", "rgb-diff"):
            raise UsageError(
                self.twin_flag, f"scales a difference: needs --input diff or rgb-diff, got {self.input!r}; use 1"
            )
        if self.aug_misregister and (self.input not in ("diff", "rgb-diff") or self.reference != "unit"):
            raise UsageError(
                "--aug-misregister",
                "moves the unit space a difference is taken against: needs --input diff or rgb-diff and "
                f"--reference unit, got --input {self.input} --reference {self.reference}; use 0",
            )
        check_device_name(self.device)
        if not str(self.data).strip():
            raise UsageError("--data", "must name a dataset folder, got ''")
        check_output_folder("--out", self.out)
        check_output_folder("--cache-dir", self.cache_dir)

    @property
    def uses_twins(self) -> bool:
        """Whether training draws each batch against its samples' twins (augment.toward_twin)."""
        return self.aug_defect_contrast < 1.0 or self.aug_residual > 1.0

    @property
    def twin_flag(self) -> str:
        """The flag that asks for the twins (for the error when the data has none)."""
        return "--aug-defect-contrast" if self.aug_defect_contrast < 1.0 else "--aug-residual"

    def soart3_options(self) -> Soart3Options:
        return Soart3Options(self.soart3_region, self.soart3_tile, self.soart3_basis, self.soart3_channels)
