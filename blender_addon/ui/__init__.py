"""The Blender UI layer: properties generated from the spec, panels, operators, preferences.

Only spec_props.py and jobs.py import without bpy; the rest is registered by the add-on's register().
"""
