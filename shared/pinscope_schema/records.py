"""Records of a dataset folder: the manifest (dataset.json) and the per-image metadata rows.

Folder layout (Hugging Face `imagefolder`-compatible):

    dataset.json                  Manifest
    train/metadata.jsonl          SampleRow per line; file_name relative to train/
    train/images/000000.png       the render
    train/twins/000000.png        its defect-free twin   (twin_file)
    train/masks/000000.png        its instance mask      (mask_file)
    validation/..., test/...      the same
    reference/metadata.jsonl      ReferenceRow per line: OK renders under lighting noise (the unit space)
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from .fields import (
    ContractError,
    Record,
    any_value,
    box_list,
    choice,
    flag,
    index_list,
    int_list,
    integer,
    join,
    matrix,
    nested,
    nested_list,
    number,
    number_map,
    show,
    text,
    text_map,
)
from .spec import SCHEMA_VERSION, SPLITS, GenerationSpec

FILE_PATTERN = r"[A-Za-z0-9_.\-/]{1,255}"
# The JSON Schema files say what check_relative_file says (no leading '/', no empty, '.' or '..'
# segment, no trailing '/') as lookaheads before a path field's pattern (`relative_path=True`).
RELATIVE_PATH_GUARD = r"(?!/)(?!.*//)(?!.*/$)(?!(?:.*/)?\.\.?(?:/|$))"


def check_relative_file(value: str, path: str) -> None:
    """A stored path must stay inside its folder: relative, POSIX, no '..', no drive or backslash."""
    norm = posixpath.normpath(value) if value else ""
    if (
        not value
        or value.startswith("/")
        or "\\" in value
        or ":" in value
        or norm != value
        or norm == ".."
        or norm.startswith("../")
        or norm == "."
    ):
        raise ContractError(
            path, f"must be a relative path inside its folder (no '..', no leading '/'), got {show(value)}"
        )


@dataclass
class PinRecord(Record):
    """One defective pin of a sample: where, what, how much, and how it stands against the tolerance."""

    PATH = "pin"
    pin: list = int_list([0, 0], 0, 63, "The pin [col, row], 0-based.")
    pin_index: int = integer(0, 0, 4095, "row * cols + col (mask value - 1).")
    mode: str = text("ok", "Defect mode.")
    shape: str = text("", "Shape the pin was rendered with.")
    magnitude: float = number(0.0, -1000.0, 1000.0, "The drawn magnitude (mm or degrees, as the mode's low/high).")
    qeu_code: str = text("OK", "The pin's QEU sample code.", pattern=r"OK|[0-9]+[A-Z][0-9]+(\.[0-9]+)?")
    dx: float = number(0.0, -1000.0, 1000.0, "Shift along X (mm).")
    dy: float = number(0.0, -1000.0, 1000.0, "Shift along Y (mm).")
    dz: float = number(0.0, -1000.0, 1000.0, "Shift along Z (mm).")
    tilt_x: float = number(0.0, -90.0, 90.0, "Tilt about X (degrees, about the pin's base).")
    tilt_y: float = number(0.0, -90.0, 90.0, "Tilt about Y (degrees, about the pin's base).")
    twist: float = number(0.0, -180.0, 180.0, "Rotation about the pin's axis (degrees).")
    bend: float = number(0.0, 0.0, 90.0, "Lean of the bent pin's tip axis from vertical (degrees).")
    bend_dir: float = number(0.0, 0.0, 360.0, "Direction the pin bends toward, degrees from +X in the board plane.")
    tip: float = number(0.0, 0.0, 1000.0, "How far the tip is squashed into a mushroom (mm).")
    box: list = int_list(
        None, -100000, 100000, "Pixel box of this pin (as rendered and where it belongs).", lengths=(4,), nullable=True
    )
    ng: bool = flag(True, "Out of tolerance (always, when the spec gives no tolerance).")
    tolerance_margin: float = number(
        None,
        -1e9,
        1e9,
        "Smallest (limit - measure) / limit over the tolerances: < 0 is NG; null: none given.",
        nullable=True,
    )


@dataclass
class SampleRow(Record):
    """One labelled render. Defect parameters are in millimetres and degrees (0 for OK).

    The camera of the image is recorded in OpenCV's convention (x right, y down, z forward): a world point X
    (mm) maps to camera coordinates c = world_to_camera @ [X, 1]; perspective pixels are K @ (c / c_z),
    orthographic ones K @ [c_x, c_y, 1] (K then holds pixels per mm). Pixel (0, 0) is the top-left pixel's
    corner, so its centre is (0.5, 0.5). No lens distortion."""

    PATH = "row"
    file_name: str = text(
        "", "Render, relative to the split folder.", pattern=FILE_PATTERN, required=True, relative_path=True
    )
    label: str = text("", "Defect class name (one of the manifest's labels).", required=True)
    pin: list = int_list(None, 0, 63, "Defective pin [col, row], 0-based; null for OK.", nullable=True)
    pin_index: int = integer(-1, -1, 4095, "row * cols + col of the defective pin; -1 for OK.")
    qeu_code: str = text(
        "OK", "QEU sample code, 1-based column and row: 31D05, 12X10, OK.", pattern=r"OK|[0-9]+[A-Z][0-9]+(\.[0-9]+)?"
    )
    mode: str = text("ok", "Defect mode of the label class.")
    shape: str = text("", "Shape the defective pin was rendered with ('' for OK).")
    dx: float = number(0.0, -1000.0, 1000.0, "Shift along X (mm).")
    dy: float = number(0.0, -1000.0, 1000.0, "Shift along Y (mm).")
    dz: float = number(0.0, -1000.0, 1000.0, "Shift along Z in mm (negative = pushed in).")
    tilt_x: float = number(0.0, -90.0, 90.0, "Tilt about X in degrees (about the pin's base).")
    tilt_y: float = number(0.0, -90.0, 90.0, "Tilt about Y in degrees (about the pin's base).")
    twist: float = number(0.0, -180.0, 180.0, "Twist of the (first) defective pin about its axis, degrees.")
    bend: float = number(0.0, 0.0, 90.0, "Bend of the (first) defective pin, degrees from vertical at the tip.")
    bend_dir: float = number(0.0, 0.0, 360.0, "Direction of that bend, degrees from +X in the board plane.")
    tip: float = number(0.0, 0.0, 1000.0, "Squash of the (first) defective pin's tip (mm).")
    defects: list = nested_list(
        PinRecord,
        list,
        "Every defective pin (the single-pin fields above repeat the first).",
        min_items=0,
        max_items=4096,
    )
    ng: bool = flag(False, "NG by the spec's tolerance (without one: any defect class but ok).")
    tolerance_margin: float = number(
        None,
        -1e9,
        1e9,
        "Smallest pin margin (limit - measure) / limit: < 0 is NG; null: no tolerance given.",
        nullable=True,
    )
    view: str = text("centre", "Camera name.")
    part: int = integer(
        None,
        0,
        2**40,
        "The part this image shows (dataset.every_view: each camera's image of one part has the same number); "
        "null: every image is a part of its own.",
        nullable=True,
        since=2,
    )
    split: str = choice("train", SPLITS, "Split the row belongs to.")
    index: int = integer(0, 0, 2**40, "Sample index inside the split.")
    seed: int = integer(0, 0, 2**63 - 1, "Per-sample seed derived from the spec seed, split and index.")
    jitter: dict = number_map("Random values actually used (camera shift/roll, light energies, colour).")
    conditions: dict = text_map("Choices drawn for the shot (plating, light_preset), when the spec randomises them.")
    line: int = integer(0, 0, 10_000, "Production line (spec.dataset.lines) the sample comes from.", since=2)
    twin_file: str = text("", "Defect-free twin render, relative to the split folder ('' if none).", relative_path=True)
    mask_file: str = text(
        "", "Instance mask PNG (pixel = pin index + 1), relative to the split folder.", relative_path=True
    )
    pin_boxes: list = box_list("Pixel box [x0, y0, x1, y1) of every pin, in pin-index order.")
    defect_box: list = int_list(
        None, -100000, 100000, "Pixel box of the defective pin; null for OK.", lengths=(4,), nullable=True
    )
    sha256: dict = text_map("Content hashes of image/twin/mask (first 16 hex digits), for validation.")
    projection: str = text("", "perspective or orthographic ('' in rows written before cameras were recorded).")
    intrinsics: list = matrix(3, 3, "Camera matrix K of this image (pixels); [] if not recorded.")
    world_to_camera: list = matrix(4, 4, "World (mm) to camera transform, OpenCV axes; [] if not recorded.")
    hidden_pins: list = index_list(
        0, 65535, "Pins the housing hides completely in this image (their pin_boxes entry is [0, 0, 0, 0])."
    )

    def check(self, path):
        check_relative_file(self.file_name, join(path, "file_name"))
        for name in ("twin_file", "mask_file"):
            if getattr(self, name):
                check_relative_file(getattr(self, name), join(path, name))
        if (self.pin is None) != (self.mode == "ok"):
            raise ContractError(
                join(path, "pin"), f"must be null exactly when mode is ok (mode {self.mode!r}), got {show(self.pin)}"
            )
        if self.defects and (self.pin is None or self.defects[0].pin != self.pin):
            raise ContractError(
                join(join(path, "defects"), 0) + ".pin",
                f"must be the row's pin {show(self.pin)} (the first defective pin)",
            )
        if self.defect_box is not None and (
            self.defect_box[2] < self.defect_box[0] or self.defect_box[3] < self.defect_box[1]
        ):
            raise ContractError(join(path, "defect_box"), f"must have x0<=x1 and y0<=y1, got {self.defect_box}")

    def files(self) -> list[str]:
        return [f for f in (self.file_name, self.twin_file, self.mask_file) if f]


@dataclass
class ReferenceRow(Record):
    """One OK render of the unit space (reference/ folder)."""

    PATH = "reference_row"
    file_name: str = text(
        "", "Render, relative to reference/.", pattern=FILE_PATTERN, required=True, relative_path=True
    )
    view: str = text("centre", "Camera name.")
    index: int = integer(0, 0, 2**40, "Reference index.")
    seed: int = integer(0, 0, 2**63 - 1, "Per-render seed.")
    jitter: dict = number_map("Random values actually used.")
    conditions: dict = text_map("Choices drawn for the shot (plating, light_preset).")
    line: int = integer(0, 0, 10_000, "Production line whose unit space this render belongs to.", since=2)
    mask_file: str = text("", "Instance mask, relative to reference/ ('' if none).", relative_path=True)
    pin_boxes: list = box_list("Pixel box of every pin, in pin-index order.")
    sha256: dict = text_map("Content hashes (first 16 hex digits).")
    projection: str = text("", "perspective or orthographic ('' in rows written before cameras were recorded).")
    intrinsics: list = matrix(3, 3, "Camera matrix K of this image (pixels); [] if not recorded.")
    world_to_camera: list = matrix(4, 4, "World (mm) to camera transform, OpenCV axes; [] if not recorded.")
    hidden_pins: list = index_list(0, 65535, "Pins the housing hides completely in this image.")

    def check(self, path):
        check_relative_file(self.file_name, join(path, "file_name"))
        if self.mask_file:
            check_relative_file(self.mask_file, join(path, "mask_file"))

    def files(self) -> list[str]:
        return [f for f in (self.file_name, self.mask_file) if f]


@dataclass
class GeneratorInfo(Record):
    name: str = text("pinscope", "Program that wrote the dataset.")
    version: str = text("0.0.0", "Its version.")
    blender_version: str = text("", "Blender version used to render ('' if not rendered by Blender).")


@dataclass
class Manifest(Record):
    """dataset.json: how the folder was made and what it holds."""

    PATH = "dataset.json"
    schema_version: int = integer(SCHEMA_VERSION, 1, SCHEMA_VERSION, "Version of the dataset contract.")
    spec: GenerationSpec = nested(GenerationSpec, "The full generation spec.")
    spec_hash: str = text("", "GenerationSpec.fingerprint() of `spec`.")
    generator: GeneratorInfo = nested(GeneratorInfo, "Who wrote it.")
    labels: list = any_value("Label vocabulary: names in id order (id = position).")
    counts: dict = any_value("Rows per split and label: {split: {label: n}}, plus reference: n.")
    created: str = text("", "ISO-8601 UTC time the folder was created.")
    updated: str = text("", "ISO-8601 UTC time of the last change.")
    stats: dict = any_value("Render timing statistics and other free-form numbers.")
    shard: list = int_list(
        None, 0, 1_000_000, "[i, n] when this folder is shard i of n; null for a whole dataset.", nullable=True
    )

    @classmethod
    def from_dict(cls, data, path=None):
        if isinstance(data, dict) and isinstance(data.get("schema_version"), int):
            if data["schema_version"] > SCHEMA_VERSION:
                raise ContractError(
                    join(path or cls.PATH, "schema_version"),
                    f"version {data['schema_version']} is newer than this PinScope supports "
                    f"(1..{SCHEMA_VERSION}); upgrade PinScope",
                )
        return super().from_dict(data, path)

    def check(self, path):
        labels = self.labels
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise ContractError(join(path, "labels"), f"must be a non-empty list of names, got {show(labels)}")
        if labels != self.spec.labels:
            raise ContractError(
                join(path, "labels"), f"must equal the spec's class names {self.spec.labels}, got {labels}"
            )
        if self.spec_hash and self.spec_hash != self.spec.fingerprint():
            raise ContractError(
                join(path, "spec_hash"), f"does not match the spec ({self.spec.fingerprint()}), got {self.spec_hash!r}"
            )
        if not isinstance(self.counts, dict):
            raise ContractError(join(path, "counts"), f"must be an object, got {show(self.counts)}")
        for split, per_label in self.counts.items():
            where = join(join(path, "counts"), split)
            if split == "reference":
                if not isinstance(per_label, int) or isinstance(per_label, bool) or per_label < 0:
                    raise ContractError(where, f"must be a count >= 0, got {show(per_label)}")
                continue
            if split not in SPLITS:
                raise ContractError(where, f"unknown split; allowed: {', '.join(SPLITS)}, reference")
            if not isinstance(per_label, dict):
                raise ContractError(where, f"must be an object of label -> count, got {show(per_label)}")
            for label, n in per_label.items():
                if label not in labels:
                    raise ContractError(join(where, label), f"label not in the vocabulary ({', '.join(labels)})")
                if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                    raise ContractError(join(where, label), f"must be a count >= 0, got {show(n)}")
        if not isinstance(self.stats, dict):
            raise ContractError(join(path, "stats"), f"must be an object, got {show(self.stats)}")

    def label_id(self, name: str) -> int:
        return self.labels.index(name)


def new_manifest(
    spec: GenerationSpec, blender_version: str = "", generator_version: str | None = None, now: str = ""
) -> Manifest:
    from . import __version__  # the package's own version: pinscope_schema/__init__ imports this module

    return Manifest(
        spec=spec,
        spec_hash=spec.fingerprint(),
        generator=GeneratorInfo("pinscope", generator_version or __version__, blender_version),
        labels=list(spec.labels),
        counts={s: {} for s in SPLITS},
        created=now,
        updated=now,
    )
