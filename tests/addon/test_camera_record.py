"""The camera each row records (K, world_to_camera) is the camera Blender rendered with.

A small dataset is rendered with the real CLI; for each row the scene is set to that sample again, every
pin is cut down to its top face, and Blender's object-index pass shows where each top landed. Projecting
each pin's top centre with the row's own K and world_to_camera (OpenCV convention) must hit the centroid of
that top's pixels within 0.5 px -- perspective (seed placement and fitted, with jitter) and orthographic.
"""

from __future__ import annotations

import json

import bpy
import numpy as np
import pytest
from index_pass import object_index_pass
from part_specs import REPO, small
from pinscope_schema import GenerationSpec, read_rows
from scale_helpers import cli, write_spec

from blender_addon.core import mask
from blender_addon.core.layout import pin_cells
from blender_addon.core.sampling import plan_sample
from blender_addon.core.shapes import footprint
from blender_addon.scene.apply import apply_plan
from blender_addon.scene.build import build_scene

HEADER = json.loads((REPO / "specs" / "connectors" / "header-2x20-p2.54.json").read_text())


def _variants() -> dict:
    seed = small({"render": {"width": 288, "height": 96}})
    fitted = small(json.loads(json.dumps(HEADER)))
    fitted["camera"].update(rig="qeu3", jitter_x=0.05, jitter_y=0.05, jitter_rot_z=1.0)
    ortho = small(json.loads(json.dumps(HEADER)))
    ortho["camera"].update(projection="orthographic", working_distance=150.0)
    return {"seed": seed, "fitted": fitted, "orthographic": ortho}


def _cut_to_tops(spec, pin_scene) -> None:
    """Replace every pin's mesh by its top face only (same object, placement and pass index); also as the
    mesh a reset puts back, so a defect undone on the next sample leaves a top, not the whole pin."""
    for i, obj in enumerate(pin_scene.pins):
        shape = obj.data.name.split()[1]  # "PinScope <shape> pin NNN"
        ring = footprint(spec.pins, shape)
        top = spec.pins.height / 2.0
        cap = bpy.data.meshes.new(f"{obj.data.name} top")
        cap.from_pydata([(x, y, top) for x, y in ring], [], [tuple(range(len(ring)))])
        obj.data = pin_scene.pin_meshes[i] = cap


def _project(row, point) -> tuple:
    c = (np.array(row.world_to_camera) @ np.array([*point, 1.0]))[:3]
    k = np.array(row.intrinsics)
    uvw = k @ (c / c[2] if row.projection == "perspective" else np.array([c[0], c[1], 1.0]))
    return uvw[0], uvw[1]


@pytest.mark.parametrize("name", ["seed", "fitted", "orthographic"])
def test_rows_record_the_camera_blender_rendered_with(tmp_path, name):
    data = _variants()[name]
    spec = GenerationSpec.from_dict(data)
    cli("render", "--spec", write_spec(tmp_path / "spec.json", data), "--out", tmp_path / "data", "--quiet")
    rows = read_rows(tmp_path / "data" / "train" / "metadata.jsonl")
    assert rows and all(len(r.intrinsics) == 3 and len(r.world_to_camera) == 4 for r in rows)
    pin_scene = build_scene(spec)
    _cut_to_tops(spec, pin_scene)
    checked, worst = 0, 0.0
    for row in rows:
        plan = plan_sample(spec, "train", row.index)
        apply_plan(pin_scene, plan)
        index = object_index_pass(pin_scene.scene)
        h, w = index.shape
        for i, (col, r) in enumerate(pin_cells(spec)):
            ys, xs = np.nonzero(index == i + 1)
            if xs.size < 4 or xs.min() == 0 or ys.min() == 0 or xs.max() == w - 1 or ys.max() == h - 1:
                continue  # too small, or cut by the image border: its centroid is not its centre
            centre = mask.placement_for(spec, plan, col, r).point((0.0, 0.0, spec.pins.height / 2.0))
            u, v = _project(row, centre)
            miss = float(np.hypot(u - (xs.mean() + 0.5), v - (ys.mean() + 0.5)))
            worst, checked = max(worst, miss), checked + 1
    assert checked >= 20 * len(rows) * 0.5
    print(f"{name}: {checked} pin tops, worst {worst:.3f} px")
    assert worst <= 0.5, f"a pin top lands {worst:.3f} px from where the row's camera puts it"
