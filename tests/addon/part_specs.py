"""Specs for the part and optics tests: the connector presets and random valid grids.

Random grids cover the whole range the fitting must handle -- rows 1-20, cols 1-40, pitch 0.5-5 mm,
every housing kind, both rigs, both projections, both fitting modes -- with connector-like proportions
(pins 0.3-0.6 pitch wide and 1.5-3 pitches tall, housing margins 0.3-1 pitch), drawn from a fixed seed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from pinscope_schema import GenerationSpec

REPO = Path(__file__).resolve().parents[2]
PRESETS = sorted((REPO / "specs" / "connectors").glob("*.json")) + [REPO / "specs" / "default.json"]
KINDS = ("block", "shroud", "cavities", "none")
IMAGE_SIZES = ((160, 64), (128, 128), (192, 48), (96, 160), (200, 80))


def small(data: dict, engine="WORKBENCH", width=None, height=None) -> dict:
    """A spec dict rendered small and fast, with a tiny dataset."""
    render = data.setdefault("render", {})
    render.update(engine=engine, samples=4)
    if width:
        render.update(width=width, height=height)
    data["dataset"] = {"train": 4, "validation": 0, "test": 0, "reference": 0, "twin_share": 1}
    return data


def preset(path: Path, **render) -> GenerationSpec:
    return GenerationSpec.from_dict(small(json.loads(path.read_text()), **render))


def _housing(rng, kind, pitch, width, height) -> dict:
    margin = pitch * rng.uniform(0.3, 1.0)
    housing = {"kind": kind, "margin": margin, "height": height * rng.uniform(0.2, 0.5)}
    housing["chamfer"] = min(margin, housing["height"]) * rng.choice((0.0, 0.2))
    if kind == "shroud":
        housing["wall_thickness"] = margin * rng.uniform(0.3, 0.7)
        housing["wall_height"] = height * rng.uniform(0.3, 1.0)
        housing["chamfer"] = min(housing["chamfer"], housing["wall_thickness"] * 0.5)
        housing["notch_width"] = rng.choice((0.0, pitch))
    elif kind == "cavities":
        housing["cavity_depth"] = housing["height"] * rng.uniform(0.2, 0.8)
        housing["cavity_clearance"] = (pitch - width) / 2.0 * rng.uniform(0.1, 0.6)
    return housing


def random_grid(index: int) -> GenerationSpec:
    """Grid number `index` of the random set (deterministic)."""
    rng = random.Random(f"pinscope-random-grid-{index}")
    rows, cols, pitch = rng.randint(1, 20), rng.randint(1, 40), rng.uniform(0.5, 5.0)
    width, height = pitch * rng.uniform(0.3, 0.6), pitch * rng.uniform(1.5, 3.0)
    kind = KINDS[index % len(KINDS)]
    image_w, image_h = IMAGE_SIZES[index % len(IMAGE_SIZES)]
    # kind, projection and rig cycle so that every housing kind meets both projections and both rigs
    projection = ("perspective", "orthographic")[(index // 4) % 2]
    rig = ("qeu3", "centre")[(index + index // 4 + index // 8) % 2]
    data = {
        "name": f"random-{index}",
        "grid": {"rows": rows, "cols": cols, "pitch": pitch, "pattern": rng.choice(("square", "round", "checker"))},
        "pins": {"square_width": width, "round_radius": width / 2.0, "height": height},
        "housing": _housing(rng, kind, pitch, width, height),
        "camera": {
            "rig": rig,
            "projection": projection,
            "fit": True,
            "fit_by": ("distance", "focal_length")[(index // 2 + index // 8) % 2],
            "fill": rng.uniform(0.6, 0.95),
            "orient": "auto",
            "working_distance": 40.0 * max(rows, cols) * pitch,
        },
        "lights": {"preset": ("seed", "ring", "coaxial", "dome", "low_angle", "backlight")[index % 6]},
    }
    return GenerationSpec.from_dict(small(data, width=image_w, height=image_h))


RANDOM_GRIDS = 20
