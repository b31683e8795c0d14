"""What a checkpoint folder carries so that it works away from its dataset: `reference.safetensors`.

    view.<name>   float32 (H, W, 3) in [0, 1]: the unit reference of that camera (per-view mean of the
                  dataset's reference/ renders, at the model's input size), for inputs that need one
    bank.<name>   uint8 (N, H, W, 3): that camera's reference renders themselves, for --reference
                  nearest (each image's unit space is chosen from them)
    pins.<name>   float32 (P, 4): where each pin's box lies in that camera's images (mean over the
                  training rows of that view, [x0, y0, x1, y1) in model-input pixels), pin index order
    metadata      grid_cols (pin index i is pin [i % cols, i // cols], as the rows' `pin`), source

`predict --reference DIR` builds the same object from reference images of another line
(`from_folder`). Pure numpy apart from reading and writing the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UsageError
from .features.inputs import view_means
from .features.line_scale import line_distance, line_factor, residual_level, scales
from .images import SUFFIXES, BadImage, read_image, resized

REFERENCE_FILE = "reference.safetensors"
ANY_VIEW = "*"  # a reference folder without views: one reference for every image


def mean_pin_boxes(rows, scale_xy) -> dict[str, np.ndarray]:
    """Per-view mean pin boxes of rows (their `pin_boxes`), scaled by (sx, sy) to model-input pixels."""
    boxes: dict[str, list] = {}
    for row in rows:
        if row.pin_boxes:
            boxes.setdefault(row.view, []).append(row.pin_boxes)
    scale = np.array([scale_xy[0], scale_xy[1], scale_xy[0], scale_xy[1]], dtype=np.float32)
    kept = {v: b for v, b in boxes.items() if len({len(x) for x in b}) == 1}  # one pin count per view
    return {v: np.asarray(b, dtype=np.float32).mean(axis=0) * scale for v, b in kept.items()}


@dataclass
class PortableReference:
    views: dict = field(default_factory=dict)  # view -> (H, W, 3) float32
    pins: dict = field(default_factory=dict)  # view -> (P, 4) float32
    grid_cols: int = 0
    source: str = ""
    native_hw: tuple | None = None  # the size of --reference images (None: the checkpoint's own)
    banks: dict = field(default_factory=dict)  # view -> (N, H, W, 3) uint8, for --reference nearest
    line_factor: float = 1.0  # what the differences are multiplied by (features/line_scale.py; 1: the own line)
    line_distance: float | None = None  # how far this line's OK parts lie from training's (None: not measured)

    def save(self, folder: Path) -> None:
        """Write folder/reference.safetensors (the folder is a checkpoint being assembled)."""
        from safetensors.numpy import save_file

        tensors = {f"view.{v}": np.ascontiguousarray(a, dtype=np.float32) for v, a in self.views.items()}
        tensors.update({f"bank.{v}": np.ascontiguousarray(b, dtype=np.uint8) for v, b in self.banks.items()})
        tensors.update({f"pins.{v}": np.ascontiguousarray(b, dtype=np.float32) for v, b in self.pins.items()})
        if tensors:
            meta = {"grid_cols": str(self.grid_cols), "source": self.source, "format": "np"}
            meta["line_factor"] = repr(self.line_factor)
            save_file(tensors, str(Path(folder) / REFERENCE_FILE), metadata=meta)

    @classmethod
    def load(cls, folder) -> PortableReference | None:
        """The checkpoint's reference, or None for a checkpoint made before checkpoints carried one."""
        from safetensors import SafetensorError, safe_open

        path = Path(folder) / REFERENCE_FILE
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="np") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
        except (OSError, SafetensorError, ValueError) as err:
            raise UsageError("--checkpoint", f"cannot read {path} ({err})") from None
        views = {k[len("view.") :]: v for k, v in tensors.items() if k.startswith("view.")}
        banks = {k[len("bank.") :]: v for k, v in tensors.items() if k.startswith("bank.")}
        pins = {k[len("pins.") :]: v for k, v in tensors.items() if k.startswith("pins.")}
        own = cls(views, pins, int(meta.get("grid_cols", 0) or 0), meta.get("source", ""), banks=banks)
        own.line_factor = float(meta.get("line_factor", 1.0))
        return own

    def with_views(self, views: dict, banks: dict, source: str, native_hw, pre) -> PortableReference:
        """The same pins with other reference images (predict --reference) of size native_hw: another line,
        whose differences are line-scaled where the model `pre` was trained so."""
        other = PortableReference(views, self.pins, self.grid_cols, source, tuple(native_hw), banks)
        if scales(pre):
            other.line_factor = line_factor(pre.residual_level, residual_level(*other.bank(), pre.align))
            other.line_distance = line_distance(self.views, views, pre.residual_level)
        return other

    def bank(self) -> tuple[np.ndarray, list[str]]:
        """Every camera's reference renders in one stack, with their views (for nearest_references)."""
        names = sorted(self.banks)
        stack = np.concatenate([self.banks[v] for v in names]) if names else np.zeros((0, 1, 1, 3), np.uint8)
        return stack, [v for v in names for _ in range(len(self.banks[v]))]

    def view_key(self, view: str | None) -> str | None:
        """Which of the reference's cameras serves an image of `view` (None: the only one, or the view-less one)."""
        if ANY_VIEW in self.views:
            return ANY_VIEW
        if view is None and len(self.views) == 1:
            return next(iter(self.views))
        return view

    def view_for(self, view: str | None):
        """The reference image for an image of `view` (None when the reference has no such camera)."""
        return self.views.get(self.view_key(view))

    def pins_for(self, view: str | None):
        """The pin boxes of a camera (None: the only camera there is), or None when unknown."""
        if view in self.pins:
            return self.pins[view]
        return next(iter(self.pins.values())) if len(self.pins) == 1 else None


def from_dataset(ds, pre, train_rows) -> PortableReference:
    """The portable reference of a run: its dataset's unit reference (when the input uses one) and pins."""
    render_h, render_w = ds.render_size
    scale = (pre.image_size[1] / render_w, pre.image_size[0] / render_h)
    views, banks = {}, {}
    factor = 1.0
    if pre.input_mode != "rgb" and ds.reference_rows:
        # a checkpoint carries one line's unit space (the first production line's; predict --reference
        # DIR brings any other line's), with the factor that line's differences were trained with
        images, image_views = ds.line_renders(pre.image_size, 0)
        views = view_means(images, image_views, pre.align.startswith("register"))
        banks = by_view(images, image_views) if pre.reference == "nearest" else {}
        factor = ds.line_factors(pre).get(0, 1.0)
    pins = mean_pin_boxes(train_rows, scale)
    own = PortableReference(views, pins, ds.manifest.spec.grid.cols, str(ds.root), banks=banks)
    own.line_factor = factor
    return own


def by_view(images: np.ndarray, views: list[str]) -> dict[str, np.ndarray]:
    """{view: its images} of an (N, H, W, 3) stack."""
    return {v: np.asarray(images)[[i for i, w in enumerate(views) if w == v]] for v in sorted(set(views))}


def reference_images(folder: Path) -> tuple[list[Path], list[str]]:
    """(image files, their views) of a reference folder: a PinScope dataset or its reference/ folder
    (views from metadata.jsonl), one subfolder per view, or plain images (one reference for all)."""
    from pinscope_schema import ContractError, ReferenceRow, read_rows

    if (folder / "reference" / "metadata.jsonl").is_file():
        folder = folder / "reference"
    if (folder / "metadata.jsonl").is_file():
        try:
            rows = read_rows(folder / "metadata.jsonl", ReferenceRow)
        except ContractError as err:
            raise UsageError("--reference", f"{folder}: {err}") from None
        return [folder / r.file_name for r in rows], [r.view for r in rows]
    plain = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)
    if plain:
        return plain, [ANY_VIEW] * len(plain)
    files, views = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        found = sorted(p for p in sub.iterdir() if p.suffix.lower() in SUFFIXES)
        files += found
        views += [sub.name] * len(found)
    return files, views


def from_folder(folder, size, register: bool = False) -> tuple[dict, dict, tuple[int, int]]:
    """({view: unit reference at `size`}, {view: its images at `size`}, the references' own (H, W)) for
    predict --reference DIR."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError("--reference", f"{folder} is not a folder of reference images")
    files, views = reference_images(folder)
    if not files:
        raise UsageError("--reference", f"{folder} holds no PNG/JPEG images (nor a reference/ folder or one per view)")
    decoded, native = [], None
    for path in files:
        try:
            image = read_image(path)
        except BadImage as err:
            raise UsageError("--reference", f"{path}: {err}") from None
        if native is not None and image.shape[:2] != native:
            raise UsageError(
                "--reference",
                f"{path} is {image.shape[1]}x{image.shape[0]} px, the other references "
                f"{native[1]}x{native[0]}: every reference must be one size (the camera's)",
            )
        native = image.shape[:2]
        decoded.append(resized(image, tuple(size)))
    stack = np.stack(decoded)
    return view_means(stack, views, register), by_view(stack, views), native


def describe(reference: PortableReference) -> str:
    return json.dumps({"views": sorted(reference.views), "pins": {v: len(b) for v, b in reference.pins.items()}})
