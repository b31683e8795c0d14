"""The dataset contract, wherever it lives.

The add-on zip vendors `pinscope_schema` as `<addon>/_vendor/pinscope_schema`; in the repository (bpy
module, tests, `blender --python blender_addon/cli.py`) it is the top-level package from shared/.
Every add-on module imports the contract through this shim so both layouts work unchanged.
"""

try:
    from ._vendor import pinscope_schema as schema  # noqa: F401
except ImportError:
    import pinscope_schema as schema  # noqa: F401

__all__ = ["schema"]
