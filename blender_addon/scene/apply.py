"""Per-sample changes through the data API: the camera, the shot's look (scene.looks), the defective pin.

`apply_plan` first undoes the previous sample's defects (`reset_defects`), so only the objects that
differ between two samples are touched and the scene is never rebuilt. A bent or squashed pin gets a
mesh of its own for the sample, built from the same pieces as its mask (core.deform).
"""

from __future__ import annotations

import bpy

from ..core.camera import camera_pose
from ..core.defects import defect_pieces, defect_placement, is_deformed, pin_placement
from ..core.layout import pin_cell, pin_index
from .looks import apply_look

DEFORMED = "PinScope deformed pin"  # name prefix of the per-sample meshes of bent and squashed pins


def reset_defects(pin_scene) -> None:
    """Put the pins a defect changed back where, and as what, they belong."""
    spec = pin_scene.spec
    for index in pin_scene.dirty_pins:
        col, row = pin_cell(spec, index)
        obj = pin_scene.pins[index]
        nominal_mesh = pin_scene.pin_meshes[index]
        if obj.data != nominal_mesh:
            deformed = obj.data if obj.data.name.startswith(DEFORMED) else None
            obj.data = nominal_mesh
            if deformed is not None and deformed.users == 0:
                bpy.data.meshes.remove(deformed)  # made for one sample: leave nothing behind
        placement = pin_placement(spec, col, row)
        obj.location, obj.rotation_euler = placement.loc, placement.euler
        if tuple(obj.scale) != (1.0, 1.0, 1.0):
            obj.scale = (1.0, 1.0, 1.0)
    pin_scene.dirty_pins = []


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


def deformed_mesh(pin_scene, defect):
    """A mesh of the pin's convex pieces (core.deform): the very solids the mask casts its rays through."""
    verts, faces, smooth = [], [], []
    for piece in defect_pieces(pin_scene.spec, defect):
        faces += [tuple(i + len(verts) for i in face) for face in piece.faces]
        verts += list(piece.verts)
        smooth += list(piece.smooth)
    mesh = bpy.data.meshes.new(f"{DEFORMED} {defect.col} {defect.row}")
    mesh.from_pydata(verts, [], faces)
    mesh.polygons.foreach_set("use_smooth", smooth)
    mesh.update()
    mesh.materials.append(pin_scene.pin_material)
    return mesh


def apply_defect(pin_scene, plan) -> None:
    """Change the plan's defective pins (nothing for an OK plan)."""
    reset_defects(pin_scene)
    for defect in plan.defective_pins():
        index = pin_index(pin_scene.spec, defect.col, defect.row)
        obj = pin_scene.pins[index]
        pin_scene.dirty_pins.append(index)
        if defect.mode == "missing":
            # Shrunk to nothing rather than hidden: Cycles' persistent data does not always re-sync a hide_render
            # toggle (a later render kept the pin hidden, or kept it), a transform it always does; same pixels.
            obj.scale = (0.0, 0.0, 0.0)
            continue
        if is_deformed(defect):
            obj.data = deformed_mesh(pin_scene, defect)
        elif defect.mode == "wrong_shape":
            obj.data = pin_scene.meshes[defect.shape]
        placement = defect_placement(pin_scene.spec, defect)
        obj.location, obj.rotation_euler = placement.loc, placement.euler


def apply_plan(pin_scene, plan) -> None:
    """Make the scene show `plan`: its view and jitter, and its defect."""
    apply_nuisance(pin_scene, plan)
    apply_defect(pin_scene, plan)
