"""Per-sample changes through the data API: the camera, the shot's look (scene.looks), the defective pin.

`apply_plan` first undoes the previous sample's defect (`reset_defects`), so only the objects that
differ between two samples are touched and the scene is never rebuilt.
"""

from __future__ import annotations

from ..core.camera import camera_pose
from ..core.defects import pin_placement
from ..core.layout import pin_cell
from .looks import apply_look


def reset_defects(pin_scene) -> None:
    """Put the pin a defect changed back where, and as what, it belongs."""
    index = pin_scene.dirty_pin
    if index is None:
        return
    spec = pin_scene.spec
    col, row = pin_cell(spec, index)
    obj = pin_scene.pins[index]
    nominal_mesh = pin_scene.pin_meshes[index]
    if obj.data != nominal_mesh:
        obj.data = nominal_mesh
    placement = pin_placement(spec, col, row)
    obj.location, obj.rotation_euler = placement.loc, placement.euler
    if tuple(obj.scale) != (1.0, 1.0, 1.0):
        obj.scale = (1.0, 1.0, 1.0)
    pin_scene.dirty_pin = None


def apply_nuisance(pin_scene, plan) -> None:
    """Camera pose (and lens, when the shot zooms) for the plan's view and jitter; materials, lights, world."""
    spec, scene = pin_scene.spec, pin_scene.scene
    camera = pin_scene.cameras[plan.view]
    pose = camera_pose(spec, plan.view, plan.jitter)
    camera.location, camera.rotation_euler = pose.location, pose.euler
    if "cam_focal" in plan.jitter:
        camera.data.lens, camera.data.ortho_scale = pose.lens, max(pose.ortho_scale, 1e-3)
    if scene.camera != camera:
        scene.camera = camera
    apply_look(pin_scene, plan)


def apply_defect(pin_scene, plan) -> None:
    """Change the plan's defective pin (nothing for an OK plan)."""
    reset_defects(pin_scene)
    if plan.pin is None:
        return
    spec = pin_scene.spec
    col, row = plan.pin
    index = row * spec.grid.cols + col
    obj = pin_scene.pins[index]
    pin_scene.dirty_pin = index
    if plan.mode == "missing":
        # Shrunk to nothing rather than hidden: Cycles' persistent data does not always re-sync a hide_render
        # toggle (a later render kept the pin hidden, or kept it), a transform it always does; same pixels.
        obj.scale = (0.0, 0.0, 0.0)
        return
    if plan.mode == "wrong_shape":
        obj.data = pin_scene.meshes[plan.shape]
    placement = pin_placement(spec, col, row, plan.dx, plan.dy, plan.dz, plan.tilt_x, plan.tilt_y)
    obj.location, obj.rotation_euler = placement.loc, placement.euler


def apply_plan(pin_scene, plan) -> None:
    """Make the scene show `plan`: its view and jitter, and its defect."""
    apply_nuisance(pin_scene, plan)
    apply_defect(pin_scene, plan)
