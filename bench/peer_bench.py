"""Peer benchmark (not a test): PinScope vs BlenderProc 2.8 on the default scene's samples, in one run.

Both sides render the same samples of the same spec -- the same pins (PinScope's pin meshes), housing,
cameras (pose and K per sample), area lights (pose, size and per-sample power), world, resolution and
Cycles settings (samples, no adaptive sampling, no denoiser, the same light bounces) -- and write what
each side's users keep per sample: the render, its instance segmentation and the defect-free twin.

  - PinScope: `render(spec, out, Inline(pin_scene), limit=block)`, the pipeline `make render` runs
    (images/, twins/, masks/ PNGs and a metadata row per sample; region rendering and twin sharing as the
    spec says).
  - BlenderProc: its API as its examples use it -- `bproc.init()`, objects from `bproc.object`,
    `bproc.types.Light`, `bproc.camera.set_intrinsics_from_K_matrix` + `add_camera_pose`,
    `bproc.renderer.enable_segmentation_output(map_by=["instance"])`, a loop of `reset_keyframes` +
    `bproc.renderer.render()` per render, and `bproc.writer.write_hdf5` (colors + instance_segmaps) for
    the image and for the twin. Two ways: `blenderproc` renders every sample's image, then its twin;
    `blenderproc-shared` is given PinScope's twin groups (the group's twin rendered once, an OK sample's
    image is that twin) -- the fastest way BlenderProc can write the same outputs without region renders.

The sides take turns by twin group (who goes first rotates; each warms up on one group first, not
counted), so a load change on the machine hits all alike; each ratio printed is PinScope samples/s /
BlenderProc samples/s over the same samples.

BlenderProc 2.8.0 (PyPI) and Blender 4.2 LTS as a Python module live in their own env:

    make peer-bench                           # sets up .venvs/blenderproc, then runs this
    USE_EXTERNAL_BPY_MODULE=1 .venvs/blenderproc/bin/python bench/peer_bench.py [--samples 12]

USE_EXTERNAL_BPY_MODULE=1 is BlenderProc's switch for a `bpy` from pip (BlenderProc's main branch). The
2.8.0 release on PyPI predates it: there, importing its API outside its own Blender starts its pip set-up
(which installs packages into a Blender install at run time). So, for 2.8.0, this script does what that
switch does and nothing more: it imports BlenderProc's API without the pip set-up, gives it its
temporary folder and calls `bproc.init()`. Nothing is downloaded: `make peer-bench` runs it with no
network (a private network namespace).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("USE_EXTERNAL_BPY_MODULE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "shared")]

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from blender_addon.contract import schema  # noqa: E402
from blender_addon.core.camera import camera_pose  # noqa: E402
from blender_addon.core.defects import pin_placement  # noqa: E402
from blender_addon.core.housing import housing_parts  # noqa: E402
from blender_addon.core.layout import pin_cells  # noqa: E402
from blender_addon.core.lighting import light_power, light_rig  # noqa: E402
from blender_addon.core.optics import optics_for  # noqa: E402
from blender_addon.core.sampling import group_size, plan_sample  # noqa: E402
from blender_addon.core.shapes import prism_mesh  # noqa: E402
from blender_addon.dataset.executors import Inline  # noqa: E402
from blender_addon.dataset.pipeline import render  # noqa: E402
from blender_addon.scene.build import build_scene, set_millimetres  # noqa: E402


def import_blenderproc(temp_dir: Path):
    """BlenderProc's API on this interpreter's bpy (see the module docstring), initialised."""
    os.environ["OUTSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT_BUT_IN_RUN_SCRIPT"] = "1"
    import blenderproc as bproc  # 2.8.0: imports nothing more outside its own Blender

    if hasattr(bproc, "init"):  # a release with USE_EXTERNAL_BPY_MODULE: its own way
        bproc.init(temp_dir=str(temp_dir))
        return bproc
    import importlib  # 2.8.0 from here on: what its USE_EXTERNAL_BPY_MODULE (main branch) does

    from blenderproc.python.renderer import RendererUtility
    from blenderproc.python.utility.GlobalStorage import GlobalStorage
    from blenderproc.python.utility.Initializer import _Initializer, clean_up
    from blenderproc.python.utility.SetupUtility import SetupUtility

    for name in ("camera", "lighting", "material", "math", "object", "renderer", "types", "utility", "writer"):
        setattr(bproc, name, importlib.import_module(f"blenderproc.api.{name}"))
    SetupUtility.setup_utility_paths(str(temp_dir))  # instead of SetupUtility.setup (pip installs)
    # bproc.init() without its UI-language switch, which a bpy module cannot make (main skips it too)
    clean_up(clean_up_camera=True)
    bpy.context.scene.render.engine = "CYCLES"
    RendererUtility.set_render_devices()
    _Initializer.set_default_parameters()
    GlobalStorage.add("bproc_init_complete", True)
    return bproc


class BlenderProcSide:
    """The default scene built and rendered through BlenderProc's API."""

    def __init__(self, bproc, spec, out: Path):
        self.bproc, self.spec, self.out = bproc, spec, out
        set_millimetres(bpy.context.scene)  # the spec's lengths are mm, as in PinScope's scene
        self.pin_material = self._material("pin", spec.pins.color, spec.pins.metallic, spec.pins.roughness)
        housing_material = self._material("housing", spec.housing.color, 0.0, 0.6)
        self.pins = [self._pin(index, col, row) for index, (col, row) in enumerate(pin_cells(spec))]
        for part_index, part in enumerate(housing_parts(spec)):
            housing = self._mesh(f"housing {part_index}", part.verts, part.faces, housing_material)
            housing.set_cp("category_id", 0)
        self.lights = []
        for pose in light_rig(spec):
            light = bproc.types.Light(light_type="AREA", name=pose.name)
            light.blender_obj.data.shape, light.blender_obj.data.size = pose.shape, pose.size
            light.blender_obj.data.size_y = pose.size_y
            light.set_location(pose.location)
            light.set_rotation_euler([np.radians(a) for a in pose.rotation_deg])
            self.lights.append((light, pose))
        bproc.renderer.set_world_background([1.0, 1.0, 1.0], strength=spec.lights.world_strength)
        self._render_settings()
        bproc.renderer.enable_segmentation_output(map_by=["instance"], default_values={"category_id": 0})
        self.defective = None

    def _material(self, name, colour, metallic, roughness):
        material = self.bproc.material.create(name)
        material.set_principled_shader_value("Base Color", [*colour, 1.0])
        material.set_principled_shader_value("Metallic", metallic)
        material.set_principled_shader_value("Roughness", roughness)
        return material

    def _mesh(self, name, verts, faces, material, smooth=None):
        obj = self.bproc.object.create_with_empty_mesh(name)
        mesh = obj.get_mesh()
        mesh.from_pydata([tuple(v) for v in verts], [], [tuple(f) for f in faces])
        if smooth is not None:
            for polygon, flag in zip(mesh.polygons, smooth, strict=True):
                polygon.use_smooth = flag
        mesh.update()
        obj.add_material(material)
        return obj

    def _pin(self, index, col, row):
        verts, faces, smooth = prism_mesh(self.spec.pins, self.spec.grid.shape_at(col, row))
        pin = self._mesh(f"pin {index:03d}", verts, faces, self.pin_material, smooth)
        pin.set_cp("category_id", index + 1)
        placement = pin_placement(self.spec, col, row)
        pin.set_location(placement.loc)
        pin.set_rotation_euler(placement.euler)
        return pin

    def _render_settings(self):
        spec, renderer, scene = self.spec, self.bproc.renderer, bpy.context.scene
        self.bproc.camera.set_resolution(spec.render.width, spec.render.height)
        renderer.set_max_amount_of_samples(spec.render.samples)
        renderer.set_noise_threshold(0)  # a fixed sample count, as the spec asks (no adaptive sampling)
        renderer.set_denoiser(None)
        renderer.set_light_bounces(
            diffuse_bounces=2,
            glossy_bounces=2,
            max_bounces=4,
            transmission_bounces=0,
            transparent_max_bounces=0,
            volume_bounces=0,
        )
        renderer.toggle_light_tree(False)
        scene.view_settings.view_transform = "Standard"  # the same picture as PinScope (no API for it)

    def shot(self, plan):
        """Camera (K and pose) and light power of the plan's shot, and its pin colour."""
        pose = camera_pose(self.spec, plan.view, plan.jitter)
        optics = optics_for(self.spec)
        self.bproc.utility.reset_keyframes()
        self.bproc.camera.set_intrinsics_from_K_matrix(
            np.array(pose.intrinsics()), self.spec.render.width, self.spec.render.height, 1.0, 100_000.0
        )
        bpy.context.scene.camera.data.sensor_width = optics.sensor_width
        self.bproc.camera.add_camera_pose(self.bproc.math.build_transformation_mat(pose.location, pose.euler))
        for light, light_pose in self.lights:
            light.set_energy(light_power(self.spec, light_pose, plan.jitter))
        base = self.spec.pins.color
        colour = [min(1.0, max(0.0, base[i] + plan.jitter.get(f"color_{c}", 0.0))) for i, c in enumerate("rgb")]
        self.pin_material.set_principled_shader_value("Base Color", [*colour, 1.0])

    def defect(self, plan):
        """Move (or hide) the plan's defective pin; put the previous one back."""
        spec = self.spec
        if self.defective is not None:
            index, col, row = self.defective
            placement = pin_placement(spec, col, row)
            self.pins[index].set_location(placement.loc)
            self.pins[index].set_rotation_euler(placement.euler)
            self.pins[index].blender_obj.hide_render = False
            self.defective = None
        if plan is None or plan.pin is None:
            return
        col, row = plan.pin
        index = row * spec.grid.cols + col
        placement = pin_placement(spec, col, row, plan.dx, plan.dy, plan.dz, plan.tilt_x, plan.tilt_y)
        self.pins[index].set_location(placement.loc)
        self.pins[index].set_rotation_euler(placement.euler)
        self.pins[index].blender_obj.hide_render = plan.mode == "missing"
        self.defective = (index, col, row)

    def render_group(self, plans, share_twin: bool) -> float:
        """One twin group, each sample written as BlenderProc users do: `plain` renders every sample's image
        and then its twin; `share_twin` renders the group's twin once and an OK sample's image is that twin."""
        start = time.perf_counter()
        self.shot(plans[0])  # a group is one shot
        twin = None
        if share_twin:
            self.defect(None)
            twin = self.bproc.renderer.render()
        for plan in plans:
            if share_twin and not plan.is_defective:
                image = twin
            else:
                self.defect(plan)
                image = self.bproc.renderer.render()
            if not share_twin:
                self.defect(None)
                twin = self.bproc.renderer.render()
            self.bproc.writer.write_hdf5(str(self.out / "images"), image, append_to_existing_output=True)
            if not share_twin or plan is plans[0]:
                self.bproc.writer.write_hdf5(str(self.out / "twins"), twin, append_to_existing_output=True)
        return time.perf_counter() - start


def run(spec, samples: int, tmp: Path) -> dict:
    bproc = import_blenderproc(tmp / "blenderproc-temp")
    theirs = BlenderProcSide(bproc, spec, tmp / "blenderproc")  # first: bproc.init() empties the scene
    pin_scene = build_scene(spec)  # PinScope's own scene ("PinScope"), built once like the CLI's
    group = group_size(spec)
    plans = [plan_sample(spec, "train", i) for i in range(samples + group)]
    blocks = [plans[i : i + group] for i in range(0, len(plans), group)]
    ours_dir = tmp / "pinscope"
    # Warm-up (first renders compile kernels, sync the scene) on every side: the first group, not counted.
    render(spec, ours_dir, Inline(pin_scene), limit=group, quiet=True)
    theirs.render_group(blocks[0], share_twin=True)
    seconds = dict.fromkeys(SIDES, 0.0)
    for number, block in enumerate(blocks[1:]):
        order = SIDES[number % len(SIDES) :] + SIDES[: number % len(SIDES)]  # rotate who goes first
        for side in order:
            start = time.perf_counter()
            if side == "pinscope":
                report = render(spec, ours_dir, Inline(pin_scene), limit=len(block), quiet=True)
                assert report.rendered == len(block), report
            else:
                theirs.render_group(block, share_twin=side == "blenderproc-shared")
            seconds[side] += time.perf_counter() - start
    assert schema.validate_dataset(ours_dir, require_complete=False) == []
    check_blenderproc_output(tmp / "blenderproc", group + 2 * samples)  # warm-up group + both BlenderProc ways
    return seconds


def check_blenderproc_output(folder: Path, images_expected: int) -> None:
    """Every sample's image and the twins were written, each holding a colour image and its instance map."""
    import h5py  # BlenderProc's writer format; only this side needs it

    images, twins = sorted((folder / "images").glob("*.hdf5")), sorted((folder / "twins").glob("*.hdf5"))
    assert len(images) == images_expected and twins, (len(images), images_expected, len(twins))
    for path in (images[-1], twins[-1]):
        with h5py.File(path) as f:
            assert {"colors", "instance_segmaps"} <= set(f), (path, list(f))
            assert f["colors"].shape[:2] == f["instance_segmaps"].shape[:2]


SIDES = ("pinscope", "blenderproc", "blenderproc-shared")
WHAT = {
    "pinscope": "image + twin + mask PNGs + row; region renders, twin per group",
    "blenderproc": "image, then twin, per sample; colors + instance_segmaps hdf5",
    "blenderproc-shared": "twin once per group, OK image = twin; colors + instance_segmaps hdf5",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(REPO / "specs" / "default.json"))
    parser.add_argument("--samples", type=int, default=12, help="samples per side (whole twin groups), after warm-up")
    args = parser.parse_args(argv)
    spec = schema.load_spec(args.spec)
    if args.samples % group_size(spec):
        raise SystemExit(f"error: --samples: must be a multiple of the twin group size {group_size(spec)}")
    with tempfile.TemporaryDirectory(prefix="pinscope-peer-") as tmp:
        seconds = run(spec, args.samples, Path(tmp))
    rate = {side: args.samples / s for side, s in seconds.items()}
    print(
        f"peer bench: {spec.name}, Cycles {spec.render.width}x{spec.render.height} {spec.render.samples} spp, "
        f"Blender {bpy.app.version_string}, {args.samples} samples per side (train 0..), twin groups of "
        f"{group_size(spec)}, interleaved by group"
    )
    for side in SIDES:
        print(f"{side:<19} {rate[side]:6.2f} samples/s  {seconds[side]:6.1f} s  ({WHAT[side]})")
    for side in SIDES[1:]:
        print(f"ratio vs {side:<19} {rate['pinscope'] / rate[side]:5.2f}x  PinScope samples/s / {side} samples/s")
    print("target: >= 3x")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    code = main()
    # bpy 4.2's module teardown crashes (SIGSEGV) once BlenderProc's clean_up has removed every data-block;
    # everything is written and printed by now, so leave without it.
    os._exit(code)
