"""Render benchmark (not a test): PinScope's renderer vs a seed-style script, side by side in one run.

Both sides render the same samples of the same spec (scene, engine, resolution, samples) and produce
the same outputs per sample: image, defect-free twin and instance mask.
  - seed-style: what the QEU posts' scripts do -- before every render delete the pins and add them
    again with bpy.ops.mesh.primitive_*_add, move the defective pin, render; the twin and the mask are
    two more full renders (the mask with one flat emission colour per pin).
  - PinScope: the scene is built once; per sample only the defective pin, camera and lights change
    (data API), the twin of an OK sample is the image itself, and the mask is computed from geometry.
The two sides alternate in blocks so that load from other processes hits both alike; the printed
ratios are what to compare across machines, not the absolute times.

    .venvs/blender/bin/python bench/render_bench.py [--spec specs/seed.json] [--samples 12]
        [--engines CYCLES,WORKBENCH] [--block 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO / "shared", REPO):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bpy  # noqa: E402

from blender_addon.contract import schema  # noqa: E402
from blender_addon.core import layout, lighting  # noqa: E402
from blender_addon.core.camera import SENSOR_WIDTH, camera_pose  # noqa: E402
from blender_addon.core.sampling import plan_sample  # noqa: E402
from blender_addon.dataset.runner import render_one  # noqa: E402
from blender_addon.scene.build import build_scene, clear_scene  # noqa: E402
from blender_addon.scene.render import configure_render, stdout_silenced  # noqa: E402


# --- the seed-style script ------------------------------------------------------------------------
class SeedStyle:
    """The QEU posts' approach in the context scene: static camera/lights/housing, pins re-added per render."""

    def __init__(self, spec):
        self.spec = spec
        self.scene = bpy.context.scene
        for obj in list(self.scene.objects):  # the factory cube, light and camera
            bpy.data.objects.remove(obj, do_unlink=True)
        configure_render(self.scene, spec)
        self.scene.world = bpy.data.worlds.get("PinScope World") or bpy.data.worlds.new("Seed World")
        self.pin_material = self._material(
            "Seed Pin",
            tuple(spec.pins.color),
            emission=False,
            metallic=spec.pins.metallic,
            roughness=spec.pins.roughness,
        )
        self.housing_material = self._material(
            "Seed Housing", tuple(spec.housing.color), emission=False, metallic=0.0, roughness=0.6
        )
        self.black = self._material("Seed Black", (0.0, 0.0, 0.0), emission=True)
        self.id_materials = [
            self._material(f"Seed Id {i}", ((i + 1) / 255.0,) * 3, emission=True) for i in range(spec.grid.pin_count)
        ]
        cam_data = bpy.data.cameras.new("Seed Camera")
        cam_data.lens, cam_data.sensor_fit, cam_data.sensor_width = spec.camera.lens, "HORIZONTAL", SENSOR_WIDTH
        self.camera = bpy.data.objects.new("Seed Camera", cam_data)
        self.scene.collection.objects.link(self.camera)
        self.scene.camera = self.camera
        self.lights = []
        for pose in lighting.light_rig(spec):
            data = bpy.data.lights.new(pose.name + " seed", "AREA")
            data.shape, data.size, data.size_y = "RECTANGLE", pose.size, pose.size_y
            obj = bpy.data.objects.new(pose.name + " seed", data)
            obj.location, obj.rotation_euler = pose.location, tuple(math.radians(a) for a in pose.rotation_deg)
            self.scene.collection.objects.link(obj)
            self.lights.append(obj)
        box = layout.housing_box(spec)
        self.housing = None
        if box is not None:
            bpy.ops.mesh.primitive_cube_add(size=1.0)
            self.housing = bpy.context.active_object
            self.housing.scale = (box.xmax - box.xmin, box.ymax - box.ymin, box.zmax - box.zmin)
            self.housing.location = (0.0, 0.0, (box.zmax + box.zmin) / 2)
        self.pins = []

    def _material(self, name, colour, emission, metallic=0.0, roughness=0.5):
        """The same materials as PinScope's scene (so both sides render the same picture)."""
        material = bpy.data.materials.new(name)
        if bpy.app.version < (5, 0, 0):
            material.use_nodes = True
        nodes = material.node_tree.nodes
        bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
        bsdf.inputs["Base Color"].default_value = (*colour, 1.0)
        bsdf.inputs["Metallic"].default_value = metallic
        bsdf.inputs["Roughness"].default_value = roughness
        material.metallic, material.roughness = metallic, roughness
        material.diffuse_color = (*colour, 1.0)
        if emission:  # flat colour for the mask render: an emission shader straight to the output
            out = next(n for n in nodes if n.type == "OUTPUT_MATERIAL")
            node = nodes.new("ShaderNodeEmission")
            node.inputs["Color"].default_value = (*colour, 1.0)
            material.node_tree.links.new(node.outputs[0], out.inputs[0])
        return material

    def rebuild_pins(self, plan, defective: bool, mask: bool):
        bpy.ops.object.select_all(action="DESELECT")
        for obj in self.pins:
            obj.select_set(True)
        if self.pins:
            bpy.ops.object.delete()
        self.pins = []
        spec = self.spec
        for index, (col, row) in enumerate(layout.pin_cells(spec)):
            x, y, z = layout.pin_centre(spec, col, row)
            hit = defective and plan.pin is not None and tuple(plan.pin) == (col, row)
            if hit and plan.mode == "missing":
                continue
            shape = plan.shape if hit else spec.grid.shape_at(col, row)
            if shape == "round":
                bpy.ops.mesh.primitive_cylinder_add(
                    radius=spec.pins.round_radius,
                    depth=spec.pins.height,
                    vertices=spec.pins.round_segments,
                    location=(x, y, z),
                )
            else:
                bpy.ops.mesh.primitive_cube_add(size=spec.pins.square_width, location=(x, y, z))
                bpy.context.active_object.scale[2] = spec.pins.height / spec.pins.square_width
            obj = bpy.context.active_object
            if hit:  # the seed's transform: shift, then tilt with a compensating shift
                obj.location = (
                    x + plan.dx - math.sin(math.radians(plan.tilt_y)),
                    y + plan.dy + math.sin(math.radians(plan.tilt_x)),
                    z + plan.dz,
                )
                obj.rotation_euler = (math.radians(plan.tilt_x), math.radians(plan.tilt_y), 0.0)
            obj.data.materials.append(self.id_materials[index] if mask else self.pin_material)
            self.pins.append(obj)
        if self.housing is not None:
            self.housing.data.materials.clear()
            self.housing.data.materials.append(self.black if mask else self.housing_material)

    def render(self, path) -> float:
        self.scene.render.filepath = str(path)
        with stdout_silenced():
            start = time.perf_counter()
            bpy.ops.render.render(write_still=True)
            return time.perf_counter() - start

    def render_sample(self, plan, folder: Path) -> dict:
        start = time.perf_counter()
        pose = camera_pose(self.spec, plan.view, plan.jitter)
        self.camera.location, self.camera.rotation_euler = pose.location, pose.euler
        for light, key in zip(self.lights, ("light_a", "light_b"), strict=True):
            light.data.energy = plan.jitter[key]
        render_s = []
        for role, defective, mask in (("image", True, False), ("twin", False, False), ("mask", True, True)):
            self.rebuild_pins(plan, defective, mask)
            render_s.append(self.render(folder / f"seed_{role}.png"))
        return {"wall_s": time.perf_counter() - start, "render_s": render_s}


# --- measurement ----------------------------------------------------------------------------------
def engine_spec(spec, engine):
    data = spec.to_dict()
    data["render"]["engine"] = engine
    return schema.GenerationSpec.from_dict(data)


def bench_engine(spec, engine: str, samples: int, block: int, folder: Path) -> dict:
    spec = engine_spec(spec, engine)
    plans = [plan_sample(spec, "train", i) for i in range(samples)]
    seed = SeedStyle(spec)
    pin_scene = build_scene(spec)
    paths = {k: folder / f"pinscope_{k}.png" for k in ("image", "twin", "mask")}
    ours, theirs = [], []

    def ours_one(plan):
        # Every sample starts from empty files: the runner reuses a twin that is already on disk
        # (twin sharing / resume), which would make later samples look free.
        for path in paths.values():
            path.unlink(missing_ok=True)
        return render_one(pin_scene, plan, paths)

    # Warm-up (first render compiles shaders/kernels) on both sides, not counted.
    ours_one(plans[0])
    seed.render_sample(plans[0], folder)
    for first in range(0, samples, block):
        chunk = plans[first : first + block]
        ours += [ours_one(plan) for plan in chunk]
        theirs += [seed.render_sample(plan, folder) for plan in chunk]
    clear_scene()
    ours_wall, theirs_wall = sum(r["wall_s"] for r in ours), sum(r["wall_s"] for r in theirs)
    ours_render = sum(sum(r["render_s"]) for r in ours)
    image_render = statistics.median(r["render_s"][0] for r in ours)
    mask_s = statistics.median(r["mask_s"] for r in ours)
    return {
        "engine": engine,
        "samples": samples,
        "width": spec.render.width,
        "height": spec.render.height,
        "spp": spec.render.samples if engine == "CYCLES" else None,
        "pinscope_samples_per_s": samples / ours_wall,
        "seed_samples_per_s": samples / theirs_wall,
        "ratio": theirs_wall / ours_wall,
        "pinscope_overhead": ours_wall / ours_render,
        "pinscope_renders_per_sample": sum(len(r["render_s"]) for r in ours) / samples,
        "seed_renders_per_sample": 3.0,
        "image_render_s": image_render,
        "mask_s": mask_s,
        "mask_vs_image": mask_s / image_render,
        "seed_rebuild_overhead": theirs_wall / sum(sum(r["render_s"]) for r in theirs),
        "seed_render_s": [statistics.median(r["render_s"][k] for r in theirs) for k in range(3)],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(REPO / "specs" / "seed.json"))
    parser.add_argument("--samples", type=int, default=12, help="samples per side and engine")
    parser.add_argument("--engines", default="CYCLES,WORKBENCH")
    parser.add_argument("--block", type=int, default=3, help="samples per side before switching sides")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    spec = schema.load_spec(args.spec)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for engine in args.engines.split(","):
            results.append(bench_engine(spec, engine.strip().upper(), args.samples, args.block, Path(tmp)))
    print(
        f"PinScope render bench: {spec.name}, {spec.render.width}x{spec.render.height}, Blender "
        f"{bpy.app.version_string}, {args.samples} samples per side (same samples, image+twin+mask each)"
    )
    header = (
        f"{'engine':<10} {'PinScope/s':>10} {'seed/s':>8} {'ratio':>6} {'overhead':>8} "
        f"{'renders/sample':>15} {'image s':>8} {'mask s':>7} {'mask/image':>10}"
    )
    print(header)
    for r in results:
        print(
            f"{r['engine']:<10} {r['pinscope_samples_per_s']:>10.2f} {r['seed_samples_per_s']:>8.2f} "
            f"{r['ratio']:>5.2f}x {r['pinscope_overhead']:>8.3f} "
            f"{r['pinscope_renders_per_sample']:>7.2f} vs {r['seed_renders_per_sample']:.0f}  "
            f"{r['image_render_s']:>8.3f} {r['mask_s']:>7.4f} {r['mask_vs_image']:>9.1%}"
        )
    for r in results:
        image, twin, mask = r["seed_render_s"]
        print(
            f"{r['engine']:<10} seed-style per render: image {image:.3f} s, twin {twin:.3f} s, mask {mask:.3f} s; "
            f"rebuild overhead {r['seed_rebuild_overhead']:.2f}"
        )
    print("targets: overhead <= 1.10, mask <= 10 % of an image render, ratio >= 1.5x (Cycles), >= 2.5x (Workbench)")
    if args.json:
        schema.write_json_atomic(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
