"""Datasets through the contract: labels, decoded renders, references and model-ready inputs.

API used by the attention tools (keep it stable):

    info = checkpoint info or run_config (a dict; see `Preprocess.from_info`)
    data = load_split(dataset_dir, "test", info)          # -> SplitData
    data.inputs      torch.FloatTensor (N, C, H, W), normalised exactly as the model was trained
    data.labels      torch.LongTensor (N,), ids into info["labels"]
    data.rows        list[pinscope_schema.SampleRow] (file_name, mask_file, pin_boxes, defect_box, ...)
    data.raw_images  np.ndarray uint8 (N, H, W, 3), the renders at the model's image size (RGB)
    data.split_dir   Path of the split folder (row.mask_file is relative to it)

Label fields: `label` (defect class, default), `pin` (which pin is defective, "ok" as its own class,
names pinCR with 1-based column C and row R), `qeu_code` (the blog's sample code), `okng` (ok / ng; by the
rows' tolerance verdict `ng` where the spec gave a tolerance, else every defect class is ng), `pins`
(multi-label: one NG bit per pin, from the rows' per-pin records; see multilabel.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .cache import decoded_images
from .errors import UsageError
from .features.inputs import (
    compute_inputs,
    fit_normalisation,
    image_on_reference,
    input_channels,
    normalise,
    to_float,
    view_means,
)
from .features.line_scale import line_factor, residual_level, scaled_difference, scales
from .features.nearest import nearest_references
from .features.register import image_warps
from .features.soart3 import Soart3Options
from .multilabel import PINS, ng_pins, pin_targets

LABEL_FIELDS = ("label", "pin", "qeu_code", "okng", PINS)


@dataclass(frozen=True)
class Preprocess:
    """Everything that turns a dataset row into a model input; saved in run_config and every checkpoint.

    Frozen: a run builds it from its options and dataset (`mean`/`std` None), then `fitted()` gives
    the one with the normalisation of the training inputs; nothing fills it in afterwards."""

    label_field: str = "label"
    labels: tuple = ()
    input_mode: str = "rgb"
    reference: str = "unit"
    image_size: tuple = (96, 288)  # (H, W)
    soart3: Soart3Options = field(default_factory=Soart3Options)
    align: str = "none"  # features.inputs.ALIGNMENTS: the reference matched to each image first
    nearest: int = 3  # reference=nearest: how many reference renders make each image's unit space
    # the training line's OK residual (features/line_scale.py); None: differences are never line-scaled
    residual_level: float | None = None
    mean: tuple | None = None
    std: tuple | None = None

    @property
    def channels(self) -> int:
        return input_channels(self.input_mode, self.soart3)

    def fitted(self, train_inputs: np.ndarray) -> Preprocess:
        """This preprocessing with the per-channel normalisation of (N, C, H, W) training inputs."""
        mean, std = fit_normalisation(train_inputs)
        return replace(self, mean=tuple(mean), std=tuple(std))

    def to_info(self) -> dict:
        return {
            "label_field": self.label_field,
            "labels": list(self.labels),
            "input_mode": self.input_mode,
            "reference": self.reference if self.input_mode != "rgb" else "none",
            "image_size": list(self.image_size),
            "soart3": self.soart3.to_dict(),
            "align": self.align,
            "nearest": self.nearest,
            "residual_level": self.residual_level,
            "channels": self.channels,
            "normalisation": {
                "mean": None if self.mean is None else list(self.mean),
                "std": None if self.std is None else list(self.std),
                "fitted_on": "train",
            },
        }

    @classmethod
    def from_info(cls, info: dict) -> Preprocess:
        norm = info.get("normalisation") or {}
        ref = info.get("reference", "unit")
        return cls(
            label_field=info.get("label_field", "label"),
            labels=tuple(info.get("labels", [])),
            input_mode=info.get("input_mode", "rgb"),
            reference="unit" if ref == "none" else ref,
            image_size=tuple(info["image_size"]),
            soart3=Soart3Options(**info.get("soart3", {})),
            align=info.get("align", "none"),
            nearest=int(info.get("nearest", 3)),
            residual_level=info.get("residual_level"),
            mean=None if norm.get("mean") is None else tuple(norm["mean"]),
            std=None if norm.get("std") is None else tuple(norm["std"]),
        )


def pin_name(pin) -> str:
    if pin is None:
        return "ok"
    col, row = pin[0] + 1, pin[1] + 1
    return f"pin{col}{row}" if col < 10 and row < 10 else f"pin{col}-{row}"


def label_of(row, label_field: str, ok_labels: set[str]) -> str:
    if label_field == "label":
        return row.label
    if label_field == "pin":
        return pin_name(row.pin)
    if label_field == "qeu_code":
        return row.qeu_code
    if label_field == PINS:  # the image's NG pins, for display (the targets are bits: multilabel.pin_targets)
        return "+".join(pin_name(p) for p in ng_pins(row)) or "ok"
    # okng: rows rendered with a spec tolerance carry the verdict of their measured pins (a defect inside
    # its tolerance is OK); without one, every defect class is NG.
    if getattr(row, "tolerance_margin", None) is not None:
        return "ng" if row.ng else "ok"
    return "ok" if row.label in ok_labels else "ng"


def unit_key(row) -> str:
    """The unit space a render belongs to: its camera on its production line (spec.dataset.lines). Line 0's
    keys are the camera names themselves, so a one-line dataset's unit space is what it always was."""
    line = getattr(row, "line", 0)
    return row.view if not line else f"{row.view}@line{line}"


class PinDataset:
    """A validated dataset folder with its rows per split, read through pinscope_schema."""

    def __init__(self, root, cache_dir=None, validate: bool = True):
        from pinscope_schema import ContractError, read_manifest, read_rows, validate_dataset
        from pinscope_schema.io import METADATA, REFERENCE
        from pinscope_schema.records import ReferenceRow

        self.root = Path(root)
        self.cache_dir = cache_dir
        self._levels: dict = {}  # (size, align) -> residual level of the unit space (line_factor)
        self._warps: dict = {}  # (split, size, reference, nearest, align) -> register-image's warps (image_warps)
        self._unit_means: dict = {}  # (size, registered) -> (unit keys, their means): registering them is the cost
        if not self.root.is_dir():
            raise UsageError("--data", f"{self.root} is not a folder (render one with `make render`)")
        if validate:
            problems = validate_dataset(self.root, check_hashes=True, require_complete=False, max_problems=3)
            if problems:
                raise UsageError("--data", f"invalid dataset {self.root}: " + "; ".join(problems[:3]))
        try:
            self.manifest = read_manifest(self.root)
            self._rows = {s: read_rows(self.root / s / METADATA) for s in ("train", "validation", "test")}
            self.reference_rows = read_rows(self.root / REFERENCE / METADATA, ReferenceRow)
        except ContractError as err:
            raise UsageError("--data", f"invalid dataset {self.root}: {err}") from None
        for rows in self._rows.values():
            rows.sort(key=lambda r: r.index)
        self.reference_rows.sort(key=lambda r: r.index)
        self.ok_labels = {c.name for c in self.manifest.spec.defects.classes if c.mode == "ok"}

    @property
    def spec_hash(self) -> str:
        return self.manifest.spec_hash

    @property
    def render_size(self) -> tuple[int, int]:
        return (self.manifest.spec.render.height, self.manifest.spec.render.width)

    def rows(self, split: str, required: bool = True) -> list:
        rows = self._rows.get(split, [])
        if required and not rows:
            raise UsageError("--data", f"split {split!r} of {self.root} is empty")
        return rows

    def vocabulary(self, label_field: str) -> list[str]:
        """Class names for a label field, in id order (the manifest's order for `label`)."""
        if label_field not in LABEL_FIELDS:
            raise UsageError("--label", f"must be one of {', '.join(LABEL_FIELDS)}, got {label_field!r}")
        if label_field == "label":
            return list(self.manifest.labels)
        if label_field == "okng":
            return ["ok", "ng"]
        if label_field in ("pin", PINS):  # pins: one bit each, no "ok" class
            g = self.manifest.spec.grid
            names = [pin_name([c, r]) for r in range(g.rows) for c in range(g.cols)]
            return ["ok", *names] if label_field == "pin" else names
        codes = {r.qeu_code for rows in self._rows.values() for r in rows}
        return sorted(codes, key=lambda c: (c != "OK", c))

    def ok_classes(self, label_field: str) -> list[str]:
        """The class names of defect-free samples under a label field ('ok', 'OK', ...), for OK/NG."""
        rows = [r for rows in self._rows.values() for r in rows if r.pin is None]
        return sorted({label_of(r, label_field, self.ok_labels) for r in rows})

    def label_ids(self, split: str, pre: Preprocess) -> np.ndarray:
        """Class ids (N,) int64, or for --label pins the NG bits (N, pins) float32."""
        if pre.label_field == PINS:
            g = self.manifest.spec.grid
            if len(pre.labels) != g.pin_count:
                raise UsageError(
                    "--label", f"pins: the model knows {len(pre.labels)} pins, {self.root} has {g.pin_count}"
                )
            return pin_targets(self.rows(split), g.cols, g.pin_count)
        index = {name: i for i, name in enumerate(pre.labels)}
        names = [label_of(r, pre.label_field, self.ok_labels) for r in self.rows(split)]
        missing = sorted({n for n in names if n not in index})
        if missing:
            raise UsageError("--label", f"{split} has classes the model does not know: {', '.join(missing[:5])}")
        return np.array([index[n] for n in names], dtype=np.int64)

    def renders(self, split: str, size, role: str = "image") -> np.ndarray:
        """(N, H, W, 3) uint8 renders (role image) or twins (role twin) of a split, from the cache."""
        rows = self.rows(split)
        folder = self.root / split
        if role == "twin":
            if any(not r.twin_file for r in rows):
                raise UsageError(
                    "--reference", "twin needs each sample's twin render (the dataset has none; use --reference unit)"
                )
            rels = [r.twin_file for r in rows]
        else:
            rels = [r.file_name for r in rows]
        digests = [r.sha256.get(role) for r in rows]
        return decoded_images(
            [folder / p for p in rels],
            digests,
            [f"{split}/{p}" for p in rels],
            tuple(size),
            self.cache_dir,
            progress=f"{split} {role}s",
        )

    def reference_renders(self, size) -> tuple[np.ndarray, list[str]]:
        """The reference/ renders (N, H, W, 3) uint8 at `size` and their views: a line's OK parts."""
        from pinscope_schema.io import REFERENCE

        rows = self.reference_rows
        if not rows:
            raise UsageError(
                "--reference",
                "unit needs the dataset's reference/ renders (it has none; "
                "render with dataset.reference > 0 or use --reference twin)",
            )
        folder = self.root / REFERENCE
        arr = decoded_images(
            [folder / r.file_name for r in rows],
            [r.sha256.get("image") for r in rows],
            [f"{REFERENCE}/{r.file_name}" for r in rows],
            tuple(size),
            self.cache_dir,
            progress="reference",
        )
        return arr, [r.view for r in rows]

    def reference_units(self, size) -> tuple[np.ndarray, list[str]]:
        """The reference/ renders at `size` with the unit space each belongs to (unit_key: camera and line)."""
        arr, _views = self.reference_renders(size)
        return arr, [unit_key(r) for r in self.reference_rows]

    def line_renders(self, size, line: int) -> tuple[np.ndarray, list[str]]:
        """The reference/ renders of one production line at `size`, and their cameras."""
        arr, views = self.reference_renders(size)
        own = [i for i, r in enumerate(self.reference_rows) if r.line == line]
        return np.asarray(arr)[own], [views[i] for i in own]

    def references(self, split: str, pre: Preprocess) -> np.ndarray | None:
        """Reference image per sample (N, H, W, 3) float in [0, 1], or None for rgb input."""
        if pre.input_mode == "rgb":
            return None
        if pre.reference == "twin":
            return self.renders(split, pre.image_size, "twin").astype(np.float32) / 255.0
        rows = self.rows(split)
        bank, bank_units = self.reference_units(pre.image_size)
        missing = sorted({unit_key(r) for r in rows} - set(bank_units))
        if missing:
            raise UsageError(
                "--reference", f"{pre.reference}: no reference renders for view(s) {', '.join(missing[:5])}"
            )
        register = pre.align.startswith("register")
        if pre.reference == "nearest":
            images = self.renders(split, pre.image_size)
            return nearest_references(images, [unit_key(r) for r in rows], bank, bank_units, pre.nearest, register)
        means, index = self.unit_means(split, pre)
        return means[index]

    def unit_means(self, split: str, pre: Preprocess) -> tuple[np.ndarray, np.ndarray]:
        """The unit spaces' means (U, H, W, 3) float32 at pre's size and alignment, and which one each
        sample of the split is compared against (N,) with --reference unit."""
        key = (tuple(pre.image_size), pre.align.startswith("register"))
        if key not in self._unit_means:
            units = view_means(*self.reference_units(pre.image_size), key[1])
            self._unit_means[key] = (sorted(units), np.stack([units[unit] for unit in sorted(units)]))
        keys, means = self._unit_means[key]
        where = {unit: i for i, unit in enumerate(keys)}
        return means, np.array([where[unit_key(r)] for r in self.rows(split)])

    def image_warps(self, split: str, pre: Preprocess) -> np.ndarray | None:
        """With `register-image` differences, the (N, 2, 3) warps taking each image of a split onto its
        reference, at pre's size (what is drawn on the image, such as its defect box, moves with it);
        None where the model sees the image where the camera put it."""
        return self._warps_of(split, pre)

    def _warps_of(self, split: str, pre: Preprocess, renders=None, references=None) -> np.ndarray | None:
        """image_warps, found once per split and preprocessing (inputs, token targets and attention share
        them); `renders` / `references`: the split's, where the caller has them already."""
        if not image_on_reference(pre.input_mode, pre.align):
            return None
        key = (split, tuple(pre.image_size), pre.reference, pre.nearest, pre.align)
        if key not in self._warps:
            renders = self.renders(split, pre.image_size) if renders is None else renders
            references = self.references(split, pre) if references is None else references
            self._warps[key] = image_warps(references, to_float(np.asarray(renders)))
        return self._warps[key]

    def residual_level(self, pre: Preprocess, line: int | None = None) -> float | None:
        """The OK residual level (line_scale.py) of this dataset's unit spaces at pre's size and alignment:
        over every line (None), or of one production line."""
        key = (tuple(pre.image_size), pre.align, line)
        if key not in self._levels:
            renders = self.reference_units if line is None else lambda size: self.line_renders(size, line)
            self._levels[key] = residual_level(*renders(pre.image_size), pre.align)
        return self._levels[key]

    def line_factors(self, pre: Preprocess) -> dict[int, float]:
        """{production line: what its differences are multiplied by}: training's residual level over the
        line's, so that each line's OK parts look to the model as the training lines' did; 1 for a model
        that does not line-scale, and on a one-line training set exactly 1."""
        lines = sorted({r.line for r in self.reference_rows}) or [0]
        if not scales(pre):
            return dict.fromkeys(lines, 1.0)
        if len(lines) == 1:  # the level of all references, as training measured it: bit for bit the same
            return {lines[0]: line_factor(pre.residual_level, self.residual_level(pre))}
        return {line: line_factor(pre.residual_level, self.residual_level(pre, line)) for line in lines}

    def line_factor(self, pre: Preprocess) -> float:
        """One number for reports: the mean of the lines' factors (the factor itself on a one-line dataset)."""
        factors = list(self.line_factors(pre).values())
        return float(np.mean(factors)) if len(factors) > 1 else factors[0]

    def inputs(self, split: str, pre: Preprocess, normalised: bool = True, role: str = "image") -> np.ndarray:
        """(N, C, H, W) float32 model inputs of a split (normalised with pre.mean/std when asked); role
        `twin`: its samples' defect-free twins, compared as the samples are (the same reference and, for
        register-image, the sample's own warp: the twin shares its camera)."""
        renders, references = self.renders(split, pre.image_size, role), self.references(split, pre)
        # the warps are the images' (a twin shares its sample's camera); the images' renders are decoded
        # for them only when they are not found yet
        warps = self._warps_of(split, pre, renders if role == "image" else None, references)
        out = compute_inputs(renders, references, pre.input_mode, pre.soart3, align=pre.align, warps=warps)
        factors = self.line_factors(pre)
        scaled_difference(out, pre.input_mode, np.array([factors.get(r.line, 1.0) for r in self.rows(split)]))
        if normalised:
            if pre.mean is None:
                raise ValueError("normalisation not fitted yet (fit it on the train split first)")
            normalise(out, pre.mean, pre.std)
        return out


@dataclass
class SplitData:
    inputs: object  # torch.FloatTensor (N, C, H, W)
    labels: object  # torch.LongTensor (N,), or FloatTensor (N, pins) for --label pins
    rows: list
    raw_images: np.ndarray
    split_dir: Path
    label_names: list
    warps: np.ndarray | None = None  # (N, 2, 3) onto each reference, where the model saw images there


def load_split(dataset_dir, split: str, info: dict, cache_dir=None) -> SplitData:
    """Model-ready inputs of one split, with rows and raw renders (see the module docstring); `dataset_dir`
    may be an open PinDataset (its decoded references and residual level are then reused)."""
    import torch

    pre = Preprocess.from_info(info)
    ds = dataset_dir if isinstance(dataset_dir, PinDataset) else PinDataset(dataset_dir, cache_dir=cache_dir)
    inputs = torch.from_numpy(ds.inputs(split, pre))
    labels = torch.from_numpy(ds.label_ids(split, pre))
    raw = np.asarray(ds.renders(split, pre.image_size))
    warps = ds.image_warps(split, pre)  # found with the inputs
    return SplitData(inputs, labels, ds.rows(split), raw, ds.root / split, list(pre.labels), warps)
