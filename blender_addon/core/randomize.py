"""Per-shot domain randomisation: what `spec.randomize` draws, and the colours it turns into (pure).

`draw(spec, rng)` is called by sampling.draw_jitter with the shot's generator, after the seed's own draws
(so a spec without randomisation draws exactly what it always drew). Numbers go to the shot's jitter
(rows: `jitter`), choices to its conditions (rows: `conditions`). Sub-seeds (per-pin variation, light
offsets, textures, sensor noise) are drawn here too, so every pixel of a shot follows from the spec seed and
the sample index.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np

from ..contract import schema

SPANS = (  # (spec.randomize field, jitter key), in draw order
    ("pin_roughness", "pin_roughness"),
    ("pin_metallic", "pin_metallic"),
    ("housing_hue", "housing_h"),
    ("housing_saturation", "housing_s"),
    ("housing_value", "housing_v"),
    ("housing_roughness", "housing_roughness"),
    ("housing_texture", "housing_texture"),
    ("scratches", "scratches"),
    ("light_scale", "light_scale"),
    ("light_offset", "light_offset"),
    ("color_temperature", "color_temperature"),
    ("ambient", "ambient"),
    ("camera_distance", "cam_distance"),
    ("focal_length", "cam_focal"),
    ("exposure", "exposure"),
    ("vignetting", "vignetting"),
    ("blur", "blur"),
    ("shot_noise", "shot_noise"),
    ("read_noise", "read_noise"),
)
SEEDS = ("variation_seed", "light_seed", "texture_seed", "noise_seed")


def presets_in_use(spec) -> list[str]:
    """Every lighting preset a shot of this spec can be lit by (the base preset first)."""
    extra = [p for p in spec.randomize.light_presets if p != spec.lights.preset]
    return [spec.lights.preset] + extra


CHOICES = (("platings", "plating"), ("light_presets", "light_preset"))  # (spec.randomize field, conditions key)
CHOICE_KEYS, SPAN_KEYS = dict(CHOICES), dict(SPANS)


def draw(spec, rng, jitter: dict, line: int = 0) -> dict:
    """Add this shot's randomised numbers to `jitter`; return its drawn choices (the conditions). The
    factors in `randomize.per_line` then take the value their production line `line` drew once."""
    conditions = _draw_from(spec, rng, jitter)
    if spec.randomize.per_line:
        line_jitter, line_conditions = line_draw(spec, line)
        jitter.update(line_jitter)
        conditions.update(line_conditions)
    return conditions


def line_draw(spec, line: int) -> tuple[dict, dict]:
    """(numbers, choices) of the per-line factors of production line `line`, stratified over the lines:
    each range is cut into `dataset.lines` equal strata and each line draws inside its own (a permutation
    per factor from the spec seed), and the choices are dealt over the lines in a permuted order -- so a
    few lines still cover every range evenly and light every choice (12 lines drawn independently lit
    two by the seed's bars and four by the dome)."""
    r, lines = spec.randomize, spec.dataset.lines
    numbers, choices = {}, {}
    for name in r.per_line:
        order = list(range(lines))
        schema.rng_for(spec.seed, "line-strata", name).shuffle(order)
        stratum = order[line % lines]
        key = CHOICE_KEYS.get(name)
        if key is not None:
            options = getattr(r, name)
            choices[key] = options[stratum % len(options)]
            continue
        low, high = getattr(r, name)
        share = (stratum + schema.rng_for(spec.seed, "line", line, name).random()) / lines
        numbers[SPAN_KEYS[name]] = low + share * (high - low)
    return numbers, choices


def _draw_from(spec, rng, jitter: dict) -> dict:
    r = spec.randomize
    conditions = {}
    if not r.active:
        return conditions
    for name, key in CHOICES:
        options = getattr(r, name)
        if options:
            conditions[key] = options[rng.randrange(len(options))]
    for name, key in SPANS:
        bounds = getattr(r, name)
        if bounds is not None:
            jitter[key] = rng.uniform(bounds[0], bounds[1])
    for key in SEEDS:
        jitter[key] = float(rng.randrange(2**31))
    if "light_level" not in jitter:  # the seed's bars draw one level each; every other preset one for all
        jitter["light_level"] = spec.lights.energy + rng.uniform(0.0, spec.lights.energy_jitter)
    return conditions


def light_preset(spec, conditions: dict) -> str:
    return conditions.get("light_preset", spec.lights.preset)


def pin_material(spec, jitter: dict, conditions: dict) -> tuple:
    """(base colour RGB before the colour jitter, metallic, roughness) of the pins in this shot."""
    pins = spec.pins
    colour, metallic, roughness = tuple(pins.color), pins.metallic, pins.roughness
    if "plating" in conditions:
        colour, metallic, roughness = schema.PLATINGS[conditions["plating"]]
    return colour, jitter.get("pin_metallic", metallic), jitter.get("pin_roughness", roughness)


def housing_colour(spec, jitter: dict) -> tuple:
    """The housing's RGB in this shot: drawn HSV components replace the base colour's."""
    h, s, v = colorsys.rgb_to_hsv(*spec.housing.color)
    h, s, v = jitter.get("housing_h", h), jitter.get("housing_s", s), jitter.get("housing_v", v)
    return colorsys.hsv_to_rgb(h, s, v)


def pin_factors(spec, jitter: dict) -> list:
    """Per-pin brightness factors 1 +/- pin_variation (pin-index order), from the shot's variation seed."""
    spread = spec.randomize.pin_variation
    if spread <= 0:
        return [1.0] * spec.grid.pin_count
    rng = schema.rng_for(int(jitter["variation_seed"]), "pins")
    return [1.0 + rng.uniform(-spread, spread) for _ in range(spec.grid.pin_count)]


def light_offsets(spec, jitter: dict, count: int) -> list:
    """Unit-ball offsets, one per light, scaled by the shot's light_offset (a share of the light's distance)."""
    share = jitter.get("light_offset", 0.0)
    if share <= 0:
        return [(0.0, 0.0, 0.0)] * count
    rng = schema.rng_for(int(jitter["light_seed"]), "lights")
    out = []
    for _ in range(count):
        z, phi = rng.uniform(-1.0, 1.0), rng.uniform(0.0, 2.0 * math.pi)
        ring, reach = math.sqrt(1.0 - z * z), share * rng.random() ** (1.0 / 3.0)
        out.append((reach * ring * math.cos(phi), reach * ring * math.sin(phi), reach * z))
    return out


def kelvin_rgb(kelvin: float) -> tuple:
    """Linear RGB of a black body at `kelvin`, normalised to its brightest channel (Tanner Helland's fit of
    the CIE data, 1000-40000 K, made linear): 6500 K is about white, 3000 K warm, 9000 K blue."""
    t = kelvin / 100.0
    red = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    green = 99.4708025861 * math.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    blue = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307)
    srgb = [min(255.0, max(0.0, c)) / 255.0 for c in (red, green, blue)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in srgb]
    top = max(linear) or 1.0
    return tuple(c / top for c in linear)


def mottle(size: int, cells: int, seed: int = 7):
    """A smooth, tileable grey noise image (size x size, values about 0.6..1): a moulded surface's mottling.
    Octaves of random grids, bilinearly upsampled with wrap-around; numpy only, from a fixed seed."""
    rng = np.random.default_rng(seed)
    out = np.zeros((size, size))
    for octave in range(4):
        n = cells * 2**octave
        grid = rng.random((n, n))
        coords = np.arange(size) * n / size
        i0 = np.floor(coords).astype(int)
        t = coords - i0
        i1 = (i0 + 1) % n
        rows = grid[i0] * (1 - t)[:, None] + grid[i1] * t[:, None]
        out += (rows[:, i0] * (1 - t)[None, :] + rows[:, i1] * t[None, :]) / 2**octave
    out = (out - out.min()) / max(1e-9, out.max() - out.min())
    return 0.6 + 0.4 * out


def scratch_lines(size: int, count: int, seed: int = 11):
    """A tileable image of thin bright scratches on black (size x size): random short strokes, mostly along X."""
    rng = np.random.default_rng(seed)
    out = np.zeros((size, size))
    for _ in range(count):
        x0, y0 = rng.random(2) * size
        angle = rng.normal(0.0, 0.15)
        length = rng.uniform(0.1, 0.5) * size
        steps = np.linspace(0.0, length, int(length * 2))
        xs = (x0 + steps * math.cos(angle)).astype(int) % size
        ys = (y0 + steps * math.sin(angle)).astype(int) % size
        out[ys, xs] = np.maximum(out[ys, xs], rng.uniform(0.5, 1.0))
    return out
