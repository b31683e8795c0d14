"""The optics: camera rig and lens, and the lighting. Every length is in millimetres, angles in degrees.

Two ways to place the camera:
- `fit` off (the seed): the cameras sit `height` above the pins' centre plane with a `lens` focal length,
  the side cameras `offset` to either side and tilted `tilt` back; jitter ranges are absolute mm.
- `fit` on: the camera distance (`fit_by: distance`) or the focal length (`fit_by: focal_length`, the camera
  `working_distance` above the pin tips) is solved so the part -- housing, pins and the room their defects
  and the camera jitter need -- fills `fill` of the limiting image side in every view of the rig. The side
  cameras then look at the part from `tilt` degrees at the same distance, and jitter ranges (given at the
  seed's scale, a 10 mm part) and the lights scale with the part.
A real camera: the image is a region of the `sensor_width` x `sensor_height` sensor with square pixels
(pixel pitch = min(sensor_width / width, sensor_height / height)); `projection: orthographic` is a
telecentric lens (field of view = sensor / `magnification` when fit is off); depth of field with
`dof` and `f_number`, focused on the pin tips.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import ContractError, Record, choice, flag, join, number

RIGS = ("qeu3", "centre")
PROJECTIONS = ("perspective", "orthographic")
FIT_BY = ("distance", "focal_length")
# Which part axis runs across the image (its width): y_across = the seed (rows left to right), auto = the
# part's longer side along the image's longer side.
ORIENTS = ("y_across", "x_across", "auto")
# seed: the QEU blog's two area bars; ring: lights around the lens; coaxial: on-axis diffuse (a beam
# splitter's light); dome: diffuse from a hemisphere; low_angle: a grazing ring that lights edges and tilts;
# backlight: a bright panel under the part (silhouettes).
LIGHT_PRESETS = ("seed", "ring", "coaxial", "dome", "low_angle", "backlight")


@dataclass
class CameraSpec(Record):
    rig: str = choice("qeu3", RIGS, "qeu3 = the seed's left/centre/right cameras; centre = one.")
    height: float = number(
        14.0, 0.5, 100000.0, "Camera height above the pins' centre plane in mm (fit off).", unit="LENGTH"
    )
    lens: float = number(50.0, 1.0, 5000.0, "Focal length in mm (fit off, or fit by distance).")
    offset: float = number(
        1.0, 0.0, 100000.0, "Left/right camera offset along the image's width in mm (fit off; seed: 1).", unit="LENGTH"
    )
    tilt: float = number(4.09, 0.0, 45.0, "Left/right camera tilt toward the part (seed: 4.09 deg).")
    jitter_x: float = number(
        0.025,
        0.0,
        1000.0,
        "Per-shot camera shift range along X in mm (+/-; scaled with the part when fitted).",
        unit="LENGTH",
    )
    jitter_y: float = number(
        0.05,
        0.0,
        1000.0,
        "Per-shot camera shift range along Y in mm (+/-; scaled with the part when fitted).",
        unit="LENGTH",
    )
    jitter_rot_z: float = number(0.5, 0.0, 45.0, "Per-shot camera roll range in degrees (+/-).")
    projection: str = choice(
        "perspective", PROJECTIONS, "perspective (an entocentric lens) or orthographic (a telecentric lens).", since=2
    )
    sensor_width: float = number(36.0, 0.1, 1000.0, "Sensor width in mm (36 = full frame).", since=2)
    sensor_height: float = number(24.0, 0.1, 1000.0, "Sensor height in mm.", since=2)
    fit: bool = flag(False, "Solve the camera distance or focal length so the part fills `fill` of the image.", since=2)
    fit_by: str = choice(
        "distance", FIT_BY, "What fitting changes: the camera distance (lens kept) or the focal length.", since=2
    )
    fill: float = number(
        0.9, 0.0, 1.0, "Share of the limiting image side the part spans when fitted (0 < fill <= 1).", since=2
    )
    working_distance: float = number(
        100.0,
        0.1,
        100000.0,
        "mm from the camera to the pin tips when fitting by focal length, and for an orthographic camera.",
        unit="LENGTH",
        since=2,
    )
    magnification: float = number(
        1.0, 0.001, 100.0, "Orthographic (telecentric) magnification when fit is off: FOV = sensor / it.", since=2
    )
    orient: str = choice(
        "y_across",
        ORIENTS,
        "Part axis across the image width: y_across (seed), x_across, or auto (longer side).",
        since=2,
    )
    dof: bool = flag(False, "Depth of field (Cycles/EEVEE), focused on the pin tips.", since=2)
    f_number: float = number(8.0, 0.5, 128.0, "Aperture f-number for depth of field.", since=2)

    def check(self, path):
        if self.fill <= 0:
            raise ContractError(join(path, "fill"), f"must be above 0 and at most 1, got {self.fill}")

    @property
    def views(self) -> list[str]:
        return ["left", "centre", "right"] if self.rig == "qeu3" else ["centre"]


@dataclass
class LightSpec(Record):
    energy: float = number(
        350.0,
        0.0,
        1e6,
        "Light level in W: each area bar of the seed preset (seed: 350); the other presets are scaled so the "
        "same number gives about the same exposure, and with the part when fitted.",
    )
    energy_jitter: float = number(50.0, 0.0, 1e6, "Added per shot: U(0, energy_jitter) (seed: 50).")
    size_x: float = number(1.0, 0.01, 1000.0, "Seed preset: area bar size X in mm (seed: 1).", unit="LENGTH")
    size_y: float = number(10.0, 0.01, 1000.0, "Seed preset: area bar size Y in mm (seed: 10).", unit="LENGTH")
    world_strength: float = number(0.05, 0.0, 100.0, "Ambient world light (0 = black).")
    preset: str = choice(
        "seed",
        LIGHT_PRESETS,
        "Inspection lighting: seed (two area bars), ring, coaxial (on-axis diffuse), dome, low_angle "
        "(grazing ring), backlight (a panel under the part).",
        since=2,
    )
