"""The generation spec: everything needed to re-render a PinScope dataset.

The panel, the headless CLI and dataset.json all carry this one dataclass tree (as JSON). Defaults
reproduce the QEU seed scene (docs/method.md §1): a 3 x 9 "mixed" array, pitch 1 mm, square pins
0.5 x 0.5 x 2 mm, round pins r = 0.25 mm, three cameras 14 mm above the pins, two area lights, classes
OK / retract 0.5 mm / tilt_x 10 deg / tilt_y 10 deg.

Units: every length is in millimetres (the seed's scene unit becomes 1 mm), every angle in degrees.
Coordinates (spec_part.py): pin (col, row) is 0-based, col along X, row along Y; pin index (mask
value - 1, `pin_boxes` order) = row * cols + col. QEU codes use 1-based column and row, as the blog did
(`31D05` = column 3, row 1). The part lives in spec_part.py, the camera and lights in spec_optics.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .fields import (
    ContractError,
    Record,
    choice,
    dump_record,
    flag,
    int_list,
    integer,
    join,
    nested,
    nested_list,
    number,
    text,
)
from .spec_optics import FIT_BY, LIGHT_PRESETS, ORIENTS, PROJECTIONS, RIGS, CameraSpec, LightSpec  # noqa: F401
from .spec_part import HOUSING_KINDS, PATTERNS, SHAPE_LETTERS, SHAPES, GridSpec, HousingSpec, PinSpec  # noqa: F401
from .spec_randomize import PLATINGS, RandomizeSpec  # noqa: F401

# Additive revisions keep version 1: a field added later carries `since` and its default renders what the
# spec rendered before, so old files read, validate and keep their hash (fields.dump_record).
SCHEMA_VERSION = 1
DEFECT_MODES = ("ok", "retract", "raise", "shift", "tilt_x", "tilt_y", "missing", "wrong_shape", "bend", "twist", "tip")
# Modes whose `low`/`high` magnitude is meaningful, and its unit.
MODE_UNITS = {
    "retract": "mm",
    "raise": "mm",
    "shift": "mm",
    "tilt_x": "deg",
    "tilt_y": "deg",
    "bend": "deg",
    "twist": "deg",
    "tip": "mm",
}
# Modes whose magnitude cannot be negative (a direction, where there is one, is drawn apart from it).
MAGNITUDE_MODES = ("retract", "raise", "shift", "bend", "tip")
# Mode letters of QEU sample codes (`31D05` = column 3, row 1, retracted 0.5); OK samples are "OK".
QEU_LETTERS = {
    "retract": "D",
    "raise": "U",
    "shift": "S",
    "tilt_x": "X",
    "tilt_y": "Y",
    "missing": "M",
    "wrong_shape": "W",
    "bend": "B",
    "twist": "T",
    "tip": "C",  # a crushed (mushroomed) tip
}
ENGINES = ("CYCLES", "WORKBENCH", "EEVEE")
SPLITS = ("train", "validation", "test")
NAME_PATTERN = r"[a-z][a-z0-9_]{0,31}"


@dataclass
class DefectClass(Record):
    PATH = "defect"
    name: str = text("ok", "Label name written to the dataset (lower case, digits, '_').", pattern=NAME_PATTERN)
    mode: str = choice("ok", DEFECT_MODES, "What happens to the defective pins.")
    low: float = number(
        0.0, -1000.0, 1000.0, "Smallest magnitude (mm for retract/raise/shift/tip, degrees for tilts/bend/twist)."
    )
    high: float = number(0.0, -1000.0, 1000.0, "Largest magnitude (a fixed value when low == high).")
    random_sign: bool = flag(False, "Draw the sign at random (tilts, twists and shifts both ways).")
    quota: float = number(1.0, 0.0, 1000.0, "Relative share of this class in every split.")
    count_low: int = integer(1, 1, 4096, "Fewest defective pins per sample of this class.", since=2)
    count_high: int = integer(1, 1, 4096, "Most defective pins per sample (drawn uniformly in between).", since=2)
    near_tolerance: float = number(
        0.0, 0.0, 1.0, "Share of the pins whose magnitude is drawn near the tolerance boundary (+/-10 %).", since=2
    )

    def check(self, path):
        if self.low > self.high:
            raise ContractError(join(path, "low"), f"must be <= high ({self.high}), got {self.low}")
        if self.count_low > self.count_high:
            raise ContractError(
                join(path, "count_low"), f"must be <= count_high ({self.count_high}), got {self.count_low}"
            )
        if self.mode in ("tilt_x", "tilt_y") and max(abs(self.low), abs(self.high)) >= 90.0:
            raise ContractError(
                join(path, "high"), f"tilt must be within -90..90 degrees (exclusive), got {self.low}..{self.high}"
            )
        if self.mode in MAGNITUDE_MODES and self.low < 0:
            raise ContractError(join(path, "low"), f"is a magnitude for {self.mode}: must be >= 0, got {self.low}")
        if self.mode == "bend" and self.high >= 90.0:
            raise ContractError(join(path, "high"), f"bend must be 0 <= bend < 90 degrees, got {self.high}")
        if self.mode == "twist" and max(abs(self.low), abs(self.high)) > 180.0:
            name = "low" if abs(self.low) > 180.0 else "high"
            raise ContractError(join(path, name), f"twist must be within -180..180 degrees, got {getattr(self, name)}")

    def qeu_mode(self) -> str:
        """Mode letters of the QEU sample code (D05 = retract 0.5, X10 = tilt about X 10 deg)."""
        return QEU_LETTERS.get(self.mode, "OK")


def qeu_defaults() -> list:
    return [
        DefectClass("ok", "ok", 0.0, 0.0),
        DefectClass("retract", "retract", 0.5, 0.5),
        DefectClass("tilt_x", "tilt_x", 10.0, 10.0),
        DefectClass("tilt_y", "tilt_y", 10.0, 10.0),
    ]


@dataclass
class DefectSpec(Record):
    classes: list = nested_list(DefectClass, qeu_defaults, "Label classes, in label-id order.", max_items=32)
    pin: list = int_list(
        None, 0, 63, "Fixed defective pin [col, row] (0-based); null = uniform at random.", nullable=True
    )

    def check(self, path):
        names = [c.name for c in self.classes]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ContractError(join(join(path, "classes"), i) + ".name", f"duplicate class name {name!r}")
        if sum(c.quota for c in self.classes) <= 0:
            raise ContractError(join(path, "classes"), "quotas must add up to more than 0")

    @property
    def labels(self) -> list[str]:
        return [c.name for c in self.classes]


@dataclass
class ToleranceSpec(Record):
    """What a line calls OK: a pin is NG when any measure leaves its tolerance (missing and wrong pins always)."""

    enabled: bool = flag(False, "Label samples OK/NG by these tolerances (off: every defect class is NG).")
    position: float = number(0.05, 0.0, 1000.0, "True-position radius of the pin tip in mm.", unit="LENGTH")
    height: float = number(0.1, 0.0, 1000.0, "Tip height tolerance in mm (+/-).", unit="LENGTH")
    tilt: float = number(3.0, 0.0, 90.0, "Largest tilt of the pin axis from vertical, degrees.")
    bend: float = number(3.0, 0.0, 90.0, "Largest bend (lean of the tip axis), degrees.")
    twist: float = number(10.0, 0.0, 180.0, "Largest twist about the pin axis, degrees.")

    def check(self, path):
        for name in ("position", "height", "tilt", "bend", "twist"):
            if getattr(self, name) <= 0:
                raise ContractError(join(path, name), f"must be above 0 (a tolerance), got {getattr(self, name)}")


@dataclass
class RenderSpec(Record):
    engine: str = choice("CYCLES", ENGINES, "CYCLES (default), WORKBENCH (fast, flat), EEVEE (slow on CPU).")
    width: int = integer(288, 8, 8192, "Image width in pixels.")
    height: int = integer(96, 8, 8192, "Image height in pixels.")
    samples: int = integer(16, 1, 65536, "Cycles samples per pixel.")
    denoise: bool = flag(False, "Cycles denoising (OpenImageDenoise).")
    device: str = choice("CPU", ("CPU", "GPU"), "Cycles device.")
    # On by default: every defect mode measured >= 53 dB PSNR against full renders on the default scene
    # (bench/render_scale_bench.py, docs/performance.md); the Blender tier re-checks >= 40 dB.
    region: bool = flag(
        True,
        "Render a defective sample only around its defect, over its twin; falls back to "
        "a full render where that is not exact enough.",
    )
    region_margin: float = number(1.0, 0.0, 100.0, "Region grown by this many pitches (covers shadows).")


@dataclass
class DatasetSpec(Record):
    train: int = integer(900, 0, 10_000_000, "Training samples.")
    validation: int = integer(150, 0, 10_000_000, "Validation samples.")
    test: int = integer(300, 0, 10_000_000, "Test samples.")
    reference: int = integer(60, 0, 10_000_000, "OK renders under lighting noise (the unit space).")
    twin: bool = flag(True, "Render each sample's defect-free twin (same camera/lights): the SOART3 reference.")
    mask: bool = flag(True, "Write an exact instance mask per sample (pixel = pin index + 1).")
    twin_share: int = integer(1, 1, 64, "Samples that share one camera/light draw and hence one twin.")
    lines: int = integer(
        1,
        1,
        10_000,
        "Production lines the samples come from, twin groups in turn: each line draws randomize.per_line once "
        "and has its own share of the reference renders (its unit space).",
        since=2,
    )
    every_view: bool = flag(
        False,
        "Every camera sees each part (as an inspection station's cameras do): a part's images, one per camera, "
        "share its defect and its shot, and evaluate decides per part as well as per image. Split sizes must "
        "then be multiples of twin_share x cameras.",
        since=2,
    )

    def split_sizes(self) -> dict:
        return {s: getattr(self, s) for s in SPLITS}


@dataclass
class GenerationSpec(Record):
    PATH = "spec"
    schema_version: int = integer(SCHEMA_VERSION, 1, SCHEMA_VERSION, "Version of this schema.")
    name: str = text("qeu-mixed-3x9", "Short name of the dataset.", pattern=r"[A-Za-z0-9_.\-]{1,64}")
    seed: int = integer(0, 0, 2**31 - 1, "Every random choice derives from this seed and the sample index.")
    grid: GridSpec = nested(GridSpec, "Pin grid and shape pattern.")
    pins: PinSpec = nested(PinSpec, "Pin dimensions and material.")
    housing: HousingSpec = nested(HousingSpec, "The housing the pins stand in.")
    defects: DefectSpec = nested(DefectSpec, "Defect classes and quotas.")
    tolerance: ToleranceSpec = nested(ToleranceSpec, "OK/NG by tolerance: true position, height, angles.", since=2)
    camera: CameraSpec = nested(CameraSpec, "Camera rig, lens and sensor, fitting, per-shot jitter.")
    lights: LightSpec = nested(LightSpec, "Lighting preset, level and jitter.")
    randomize: RandomizeSpec = nested(
        RandomizeSpec, "Physical factors and sensor effects drawn anew per shot (domain randomisation).", since=2
    )
    render: RenderSpec = nested(RenderSpec, "Engine and image settings.")
    dataset: DatasetSpec = nested(DatasetSpec, "Split sizes and per-sample outputs.")

    @classmethod
    def from_dict(cls, data, path=None):
        # A newer file must say so plainly rather than fail on its first unknown field.
        if isinstance(data, dict) and isinstance(data.get("schema_version"), int):
            if data["schema_version"] > SCHEMA_VERSION:
                raise ContractError(
                    join(path or cls.PATH, "schema_version"),
                    f"version {data['schema_version']} is newer than this PinScope supports "
                    f"(1..{SCHEMA_VERSION}); upgrade PinScope",
                )
        return super().from_dict(data, path)

    def check(self, path):
        self._check_pins_fit(path)
        self._check_housing(join(path, "housing"))
        self._check_lines(path)
        pin = self.defects.pin
        if pin is not None and (pin[0] >= self.grid.cols or pin[1] >= self.grid.rows):
            raise ContractError(
                join(join(path, "defects"), "pin"),
                f"must be inside the grid (col 0..{self.grid.cols - 1}, row 0..{self.grid.rows - 1}), got {pin}",
            )
        for i, cls in enumerate(self.defects.classes):
            if cls.mode == "retract" and cls.high > self.pins.height:
                raise ContractError(
                    f"{path}.defects.classes[{i}].high",
                    f"retract must be at most the pin height ({self.pins.height}), got {cls.high}",
                )
            if cls.mode == "wrong_shape" and not set(self.grid.shapes()) <= {"square", "round"}:
                raise ContractError(
                    f"{path}.defects.classes[{i}].mode", "wrong_shape needs a grid of square and/or round pins only"
                )
            self._check_class(f"{path}.defects.classes[{i}]", cls)

    def _check_class(self, where, cls):
        if cls.mode == "tip" and cls.high >= self.pins.height / 6.0:
            raise ContractError(
                f"{where}.high",
                f"tip must be below a sixth of the pin height ({self.pins.height / 6.0:.4g} mm: the flare spans "
                f"3 x the squash), got {cls.high}",
            )
        if cls.count_high > self.grid.pin_count:
            raise ContractError(
                f"{where}.count_high", f"must be at most the pin count ({self.grid.pin_count}), got {cls.count_high}"
            )
        if cls.near_tolerance > 0 and not self.tolerance.enabled:
            raise ContractError(f"{where}.near_tolerance", "needs spec.tolerance.enabled: true (a boundary to be near)")

    def _check_housing(self, housing):
        if self.housing.kind == "none":
            return
        if self.housing.height <= 0 or self.housing.height >= self.pins.height:
            raise ContractError(
                join(housing, "height"),
                f"must be above 0 and below spec.pins.height ({self.pins.height}), got {self.housing.height}",
            )
        if self.housing.chamfer > min(self.housing.margin, self.housing.height):
            raise ContractError(
                join(housing, "chamfer"),
                f"must be at most min(margin, height) = "
                f"{min(self.housing.margin, self.housing.height)}, got {self.housing.chamfer}",
            )
        if self.housing.kind == "shroud":
            wall = min(self.housing.wall_thickness, self.housing.wall_height)
            if self.housing.chamfer > wall:
                raise ContractError(
                    join(housing, "chamfer"),
                    f"bevels the shroud's walls: must be at most min(wall_thickness, wall_height) = {wall}, "
                    f"got {self.housing.chamfer}",
                )
        if self.housing.kind == "cavities":
            hole = max(self.pins.footprint(s) for s in set(self.grid.shapes())) + 2 * self.housing.cavity_clearance
            if hole >= self.grid.pitch:
                raise ContractError(
                    join(housing, "cavity_clearance"),
                    f"makes the holes {hole:.3g} mm wide: they must be narrower than spec.grid.pitch "
                    f"({self.grid.pitch}), got {self.housing.cavity_clearance}",
                )

    def _check_lines(self, path):
        for name in self.randomize.per_line:
            if not self.randomize.drawn(name):
                raise ContractError(
                    f"{path}.randomize.per_line",
                    f"{name} is not drawn (its range is null or its list empty): per_line names only drawn factors",
                )
        cameras = len(self.camera.views)
        self._check_parts(path, cameras)
        needed = self.dataset.lines * cameras
        if self.dataset.lines > 1 and 0 < self.dataset.reference < needed:
            raise ContractError(
                f"{path}.dataset.reference",
                f"must be 0 or at least dataset.lines x cameras ({self.dataset.lines} x {cameras} = {needed}) "
                f"so that every line's unit space sees every camera, got {self.dataset.reference}",
            )

    def _check_parts(self, path, cameras: int):
        """With every_view a split holds whole blocks of twin_share parts seen by every camera."""
        if not self.dataset.every_view:
            return
        block = self.dataset.twin_share * cameras
        for split, size in self.dataset.split_sizes().items():
            if size % block:
                raise ContractError(
                    f"{path}.dataset.{split}",
                    f"must be a multiple of dataset.twin_share x cameras ({self.dataset.twin_share} x {cameras} = "
                    f"{block}) with dataset.every_view, got {size}",
                )

    def _check_pins_fit(self, path):
        for shape in sorted(set(self.grid.shapes())):
            width = self.pins.footprint(shape)
            if width >= self.grid.pitch:
                name = self.pins.width_field(shape)
                raise ContractError(
                    f"{path}.pins.{name}",
                    f"{shape} pins ({width:.3g} wide) must be narrower than spec.grid.pitch ({self.grid.pitch}),"
                    f" got {getattr(self.pins, name)}",
                )

    @property
    def labels(self) -> list[str]:
        return self.defects.labels

    def fingerprint(self) -> str:
        """Content hash of the spec: a dataset folder belongs to exactly one spec.

        Fields added after the first revision count only once they leave their default (their default
        reproduces what the spec rendered before they existed), so a folder rendered before they were
        added keeps its hash and resumes.
        """
        data = dump_record(self, stable=True)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


MAX_SPEC_BYTES = 4 * 1024 * 1024  # a spec is a few KB; anything this large is not one (or is /dev/zero)


def _read_spec_bytes(p) -> bytes:
    """The file's bytes, refusing what is not a regular file of at most MAX_SPEC_BYTES (read no further)."""
    try:
        with open(p, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ContractError("spec", f"{p} is not a regular file")
            raw = f.read(MAX_SPEC_BYTES + 1)
    except OSError as err:
        raise ContractError("spec", f"cannot read {p}: {err.strerror or err}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise ContractError("spec", f"{p} is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB; a spec is a few KB")
    return raw


def load_spec(path) -> GenerationSpec:
    """Read a spec from a JSON file (or TOML, by extension). Errors are one-line ContractErrors."""
    p = Path(path)
    raw = _read_spec_bytes(p)
    kind = "TOML" if p.suffix.lower() == ".toml" else "JSON"
    try:
        if kind == "TOML":
            import tomllib  # Python 3.11+, and only for .toml specs (the contract supports 3.10)

            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except RecursionError:
        raise ContractError("spec", f"{p} is not valid {kind}: nested too deeply") from None
    except UnicodeDecodeError:
        raise ContractError("spec", f"{p} is not valid {kind}: not UTF-8 text") from None
    except ValueError as err:  # JSONDecodeError, TOMLDecodeError, or an integer of more than 4300 digits
        message = "an integer has more than 4300 digits" if "integer string conversion" in str(err) else err
        raise ContractError("spec", f"{p} is not valid {kind}: {message}") from None
    return GenerationSpec.from_dict(data)
