"""Domain randomisation: the physical factors drawn anew for every shot, and the sensor's effects.

Every range is [low, high] and drawn uniformly once per shot -- per twin group, so a sample and its twin
share the draw and their difference stays the defect's -- or null: not drawn, the base spec's value
holds (the default: a spec without a `randomize` section renders exactly as before). Choices (platings,
lighting presets) are drawn uniformly from the list; an empty list keeps the base spec's. What each
sample actually got is in its row (`jitter` for numbers, `conditions` for choices).

Sensor effects are applied to the rendered image in the renderer, after rendering (exposure, vignetting,
defocus blur, shot and read noise); masks and boxes stay exact because they come from geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import Record, choice_list, number, span
from .spec_optics import LIGHT_PRESETS

# Plating presets: base colour (linear RGB, a metal's reflectance), metallic, roughness.
PLATINGS = {
    "gold": ((1.0, 0.766, 0.336), 1.0, 0.25),
    "tin": ((0.80, 0.80, 0.78), 1.0, 0.45),
    "nickel": ((0.66, 0.61, 0.53), 1.0, 0.30),
    "copper": ((0.955, 0.638, 0.538), 1.0, 0.30),
    "silver": ((0.972, 0.960, 0.915), 1.0, 0.20),
}


# Every factor that can be drawn once per production line instead of per shot (`per_line`).
LINE_FACTORS = (
    "platings",
    "light_presets",
    "pin_roughness",
    "pin_metallic",
    "housing_hue",
    "housing_saturation",
    "housing_value",
    "housing_roughness",
    "housing_texture",
    "scratches",
    "light_scale",
    "light_offset",
    "color_temperature",
    "ambient",
    "camera_distance",
    "focal_length",
    "exposure",
    "vignetting",
    "blur",
    "shot_noise",
    "read_noise",
)


CHOICE_FACTORS = ("platings", "light_presets")  # the factors that are lists of choices, not ranges


@dataclass
class RandomizeSpec(Record):
    platings: list = choice_list(tuple(PLATINGS), "Pin platings drawn per shot ([] = spec.pins.color).", since=2)
    pin_roughness: list = span(0.0, 1.0, "Pin roughness range (null = the plating's or spec.pins').", since=2)
    pin_metallic: list = span(0.0, 1.0, "Pin metallic range (null = the plating's or spec.pins').", since=2)
    pin_variation: float = number(
        0.0, 0.0, 0.5, "Per-pin brightness spread (+/- this share) within one shot: pins differ a little.", since=2
    )
    housing_hue: list = span(0.0, 1.0, "Housing colour hue range (HSV, 0..1; null = the base colour's).", since=2)
    housing_saturation: list = span(0.0, 1.0, "Housing colour saturation range (HSV).", since=2)
    housing_value: list = span(0.0, 1.0, "Housing colour value (brightness) range (HSV).", since=2)
    housing_roughness: list = span(0.0, 1.0, "Housing roughness range (null = 0.6).", since=2)
    housing_texture: list = span(0.0, 1.0, "Strength of a procedural noise texture on the housing (0 = none).", since=2)
    scratches: list = span(0.0, 1.0, "Strength of fine scratches on the housing (0 = none).", since=2)
    light_presets: list = choice_list(
        LIGHT_PRESETS, "Lighting presets drawn per shot ([] = spec.lights.preset).", since=2
    )
    light_scale: list = span(0.0, 100.0, "Light level multiplier range (on top of lights.energy_jitter).", since=2)
    light_offset: list = span(0.0, 1.0, "Each light moved by up to this share of its distance to the part.", since=2)
    color_temperature: list = span(1000.0, 20000.0, "Light colour temperature range in kelvin (null = white).", since=2)
    ambient: list = span(0.0, 100.0, "Ambient (world) light range (null = lights.world_strength).", since=2)
    camera_distance: list = span(0.5, 2.0, "Camera distance multiplier range (the part grows or shrinks).", since=2)
    focal_length: list = span(0.5, 2.0, "Focal length (or orthographic scale) multiplier range.", since=2)
    exposure: list = span(-5.0, 5.0, "Sensor exposure / gain range in EV (stops; +1 = twice as bright).", since=2)
    vignetting: list = span(0.0, 1.0, "Vignetting range: brightness lost at the image corners.", since=2)
    blur: list = span(0.0, 10.0, "Defocus blur range: Gaussian sigma in pixels.", since=2)
    shot_noise: list = span(
        0.0, 10.0, "Shot (photon) noise range: sigma = this x sqrt(level) in 8-bit levels.", since=2
    )
    read_noise: list = span(0.0, 50.0, "Read noise range: Gaussian sigma in 8-bit levels.", since=2)
    per_line: list = choice_list(
        LINE_FACTORS,
        "Factors drawn once per production line (dataset.lines) instead of per shot: what differs between "
        "lines (housing colour, lighting, plating) and stays on one. Each line has its own reference renders.",
        since=2,
    )

    @property
    def sensor_effects(self) -> bool:
        return any(getattr(self, name) is not None for name in SENSOR_FIELDS)

    def drawn(self, name: str) -> bool:
        """Whether the factor `name` is drawn at all (a range given, or a non-empty choice list)."""
        value = getattr(self, name)
        return bool(value) if name in CHOICE_FACTORS else value is not None

    @property
    def active(self) -> bool:
        """Anything drawn per shot at all (else the spec renders exactly as without this section)."""
        return self != RandomizeSpec()


SENSOR_FIELDS = ("exposure", "vignetting", "blur", "shot_noise", "read_noise")
