"""PinScope: build pin-array scenes and render defect datasets from one spec.

This file only registers. bpy and the UI modules are imported inside register()/unregister() so
that the pure parts (`blender_addon.core`, the CLI's argument handling, the contract) import in a
plain Python without Blender.
"""

import importlib

# Legacy (pre-4.2) add-on installs read this; 4.2+ extensions read blender_manifest.toml.
# tests/addon/test_ui_package.py checks that both carry the same version.
bl_info = {
    "name": "PinScope",
    "author": "PinScope",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "View3D > Sidebar > PinScope",
    "description": "Pin-array scenes, live defect previews and dataset rendering from one spec",
    "doc_url": "",
    "category": "3D View",
}

# Registered in this order, unregistered in reverse: properties first (panels and operators
# refer to them), preferences last (the panel reads them only while drawing).
_UI_MODULES = ("properties", "prefs", "operators", "render_ops", "panels")


def _ui_modules():
    return [importlib.import_module(f".ui.{name}", __package__) for name in _UI_MODULES]


def register():
    for module in _ui_modules():
        module.register()


def unregister():
    for module in reversed(_ui_modules()):
        module.unregister()
