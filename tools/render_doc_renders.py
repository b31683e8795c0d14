"""Render the documentation's preset and lighting pictures from the real specs (Blender env).

    .venvs/blender/bin/python tools/render_doc_renders.py --out build/doc-renders
    .venvs/trainer/bin/python tools/make_readme_images.py --doc-renders build/doc-renders --out docs/img

Writes OUT/presets/<spec>.png (one defective sample of every connector preset in specs/connectors and of
the default spec, at its own resolution) and OUT/lighting/<preset>.png (the shrouded box header under
each lighting preset, the same tilted pin), each with a captions.json entry: what it shows, the fitted
camera, the defect's box. `make doc-images` runs both steps.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "shared"), str(REPO)]

from blender_addon.contract import schema  # noqa: E402
from blender_addon.core.camera import optics_summary  # noqa: E402
from blender_addon.core.sampling import plan_sample  # noqa: E402
from blender_addon.dataset.runner import render_one  # noqa: E402
from blender_addon.scene.build import build_scene  # noqa: E402

SAMPLES = 32  # cleaner than a dataset's 16 for a picture
LIGHTING_SPEC = REPO / "specs" / "connectors" / "box-header-2x8-p2.54.json"


def first_defective(spec, wanted: str = "tilt"):
    """The first training sample whose class mode starts with `wanted` (else the first defective one)."""
    plans = [plan_sample(spec, "train", i) for i in range(spec.dataset.train)]
    return next((p for p in plans if p.mode.startswith(wanted)), next(p for p in plans if p.pin is not None))


def render_picture(spec, out: Path, name: str, caption: str) -> dict:
    pin_scene = build_scene(spec)
    plan = first_defective(spec)
    paths = {"image": out / f"{name}.png", "twin": out / f"{name}.twin.png", "mask": None}
    result = render_one(pin_scene, plan, paths)
    paths["twin"].unlink()
    return {
        "file": paths["image"].name,
        "caption": caption,
        "defect": f"{plan.label} {plan.qeu_code}",
        "defect_box": result["defect_box"],
        "optics": optics_summary(spec),
    }


def with_samples(data: dict) -> schema.GenerationSpec:
    data = json.loads(json.dumps(data))
    data.setdefault("render", {})["samples"] = SAMPLES
    return schema.GenerationSpec.from_dict(data)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/doc-renders", help="folder for the renders and captions.json")
    args = parser.parse_args(argv)
    out = Path(args.out)
    captions = {"presets": [], "lighting": []}
    (out / "presets").mkdir(parents=True, exist_ok=True)
    (out / "lighting").mkdir(parents=True, exist_ok=True)
    for path in sorted((REPO / "specs" / "connectors").glob("*.json")) + [REPO / "specs" / "default.json"]:
        spec = with_samples(json.loads(path.read_text()))
        g = spec.grid
        caption = (
            f"{path.stem}: {g.cols} x {g.rows} pins at {g.pitch:g} mm, {spec.housing.kind}, {spec.lights.preset} light"
        )
        captions["presets"].append(render_picture(spec, out / "presets", path.stem, caption))
        print(f"rendered {path.stem}", file=sys.stderr)
    base = json.loads(LIGHTING_SPEC.read_text())
    for preset in schema.LIGHT_PRESETS:
        base["lights"]["preset"] = preset
        spec = with_samples(base)
        captions["lighting"].append(render_picture(spec, out / "lighting", preset, f"lights.preset: {preset}"))
        print(f"rendered lighting {preset}", file=sys.stderr)
    schema.write_json_atomic(out / "captions.json", captions)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
