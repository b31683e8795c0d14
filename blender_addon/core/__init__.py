"""Pure PinScope core: layout, shapes, defects, sampling, camera maths, masks and PNG files.

No bpy here (and numpy only where it is optional), so everything is testable with plain pytest and
usable from Blender's own Python, the bpy module and the system `blender` binary alike.
"""
