"""Masks and boxes stay exact when the housing hides part of a pin (shroud walls, cavity rims).

Real bpy: Blender's object-index pass of each sample is compared with PinScope's mask (>= 99.5 % of pixels;
in practice every pixel), for every defect mode, seen by all three cameras of the qeu3 rig. Boxes are the
visible part: each matches its pin's pixels in the index pass (to a pixel), and a pin the housing hides whole has
an empty box and is listed in the row's hidden_pins.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from index_pass import object_index_pass
from part_specs import REPO, small
from pinscope_schema import GenerationSpec

from blender_addon.core import mask
from blender_addon.core.camera import camera_pose
from blender_addon.core.defects import every_mode_classes
from blender_addon.core.sampling import plan_sample
from blender_addon.scene.apply import apply_plan
from blender_addon.scene.build import build_scene
from blender_addon.scene.render import geometry_outputs

BOX_HEADER = json.loads((REPO / "specs" / "connectors" / "box-header-2x8-p2.54.json").read_text())


def _every_mode(data: dict, kind_fields: dict) -> GenerationSpec:
    data = small(json.loads(json.dumps(data)), width=384, height=160)
    data["housing"].update(kind_fields)
    data["camera"].update(rig="qeu3", tilt=12.0)
    data["defects"] = {"classes": every_mode_classes(with_ok=True)}
    data["dataset"]["train"] = 2 * len(data["defects"]["classes"])
    return GenerationSpec.from_dict(data)


CAVITIES = {"kind": "cavities", "height": 3.0, "cavity_depth": 2.0, "cavity_clearance": 0.5, "notch_width": 3.0}
SPECS = {
    "shroud": lambda: _every_mode(BOX_HEADER, {}),
    "cavities": lambda: _every_mode(BOX_HEADER, CAVITIES),
}


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_masks_and_boxes_match_blender_under_occlusion(kind):
    spec = SPECS[kind]()
    pin_scene = build_scene(spec)
    occluded = 0
    for i in range(spec.dataset.train):
        plan = plan_sample(spec, "train", i)
        apply_plan(pin_scene, plan)
        theirs = object_index_pass(pin_scene.scene)
        pose = camera_pose(spec, plan.view, plan.jitter)
        ours = mask.rasterise(pose, mask.scene_solids(spec, plan))
        assert (ours == theirs).mean() >= 0.995, f"sample {i} ({plan.mode}, {plan.view})"
        geometry = geometry_outputs(spec, plan)
        for index, box in enumerate(geometry["pin_boxes"]):
            if plan.mode == "missing" and index == plan.pin_index:
                continue  # a missing pin keeps the box of where it belongs
            ys, xs = np.nonzero(theirs == index + 1)
            if not xs.size:
                assert box == [0, 0, 0, 0], f"sample {i}: pin {index} shows nowhere in Blender's render"
                continue
            expected = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
            # within a pixel: an edge pixel a ray grazes may fall either way between two tracers
            assert np.abs(np.subtract(box, expected)).max() <= 1, f"sample {i}: pin {index} {box} vs {expected}"
        pins_alone = mask.rasterise(pose, [s for s in mask.scene_solids(spec, plan) if s.value > 0])
        occluded += int((ours != pins_alone).sum())
    assert occluded > 0  # walls and rims do hide pin pixels from the tilted side cameras here


def test_a_pin_pushed_below_its_cavity_is_hidden_and_flagged():
    data = small(json.loads(json.dumps(BOX_HEADER)), width=384, height=160)
    data["housing"].update(kind="cavities", height=3.0, cavity_depth=2.0, cavity_clearance=0.3)
    h, housing = data["pins"]["height"], data["housing"]
    floor = -h / 2 + housing["height"] - housing["cavity_depth"]
    sink = h / 2 - floor + 0.2  # the tip ends 0.2 mm below the cavity floor
    data["defects"] = {"classes": [{"name": "sunk", "mode": "retract", "low": sink, "high": sink}]}
    spec = GenerationSpec.from_dict(data)
    plan = plan_sample(spec, "train", 0)
    geometry = geometry_outputs(spec, plan)
    assert geometry["hidden_pins"] == [plan.pin_index]
    assert geometry["pin_boxes"][plan.pin_index] == [0, 0, 0, 0]
    assert geometry["defect_box"] != [0, 0, 0, 0]  # where it belongs still shows (the empty hole)
    pin_scene = build_scene(spec)
    apply_plan(pin_scene, plan)
    assert not (object_index_pass(pin_scene.scene) == plan.pin_index + 1).any()
