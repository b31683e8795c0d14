"""The panel's properties are generated from the spec and map back to it exactly (real bpy).

The add-on is registered from the repository package (`blender_addon`) once for this module; the
installed-zip path is covered by test_ui_install.py.
"""

from __future__ import annotations

import copy
import json
from dataclasses import fields

import bpy
import pinscope_schema as schema
import pytest

import blender_addon
from blender_addon.ui import properties, spec_props

# Fields no other valid value exists for (so they cannot be varied), with the reason.
UNVARIABLE = {
    "schema_version": "only version 1 exists",
    "count_low": "above 1 only with count_high raised too (test_defect_options_round_trip_together)",
    "near_tolerance": "above 0 only with tolerance.enabled (test_defect_options_round_trip_together)",
}


@pytest.fixture(scope="module")
def scene():
    blender_addon.register()
    yield bpy.context.scene
    blender_addon.unregister()


def test_every_spec_field_has_a_property(scene):
    missing = []
    for cls in spec_props.record_classes(schema.GenerationSpec):
        rna = properties.generated[cls].bl_rna.properties
        for f in fields(cls):
            if f.name not in rna:
                missing.append(f"{cls.__name__}.{f.name}")
            if f.metadata.get("nullable") and f"{f.name}_random" not in rna:
                missing.append(f"{cls.__name__}.{f.name}_random")
    assert missing == []
    assert scene.pinscope.defects.bl_rna.properties["classes"].type == "COLLECTION"
    assert scene.pinscope.grid.bl_rna.properties["rows"].hard_max == 64


def test_properties_carry_the_contract_limits_and_docs(scene):
    rna = properties.generated[schema.CameraSpec].bl_rna.properties
    assert rna["rig"].enum_items.keys() == ["qeu3", "centre"]
    assert rna["height"].hard_min == pytest.approx(0.5) and rna["height"].unit == "LENGTH"
    assert rna["height"].description.startswith("Camera height")
    assert properties.generated[schema.GridSpec].bl_rna.properties["cols"].name == "Columns"  # metadata ui=


def _candidates(meta, default):
    """Valid-looking values other than the default, derived from the field's metadata only."""
    kind = meta["kind"]
    if kind == "int":
        lo, hi = meta["lo"], meta["hi"]
        values = [default + 1, default - 1, lo, hi, (lo + hi) // 2]
        return [v for v in values if lo <= v <= hi and v != default]
    if kind == "float":
        lo, hi = meta["lo"], meta["hi"]
        values = [default * 0.75, default + 0.125, (lo + hi) / 3, lo, hi]
        return [float(f"{v:.6g}") for v in values if lo <= v <= hi and v != default]
    if kind == "enum":
        return [c for c in meta["choices"] if c != default]
    if kind == "bool":
        return [not default]
    if kind == "str":
        return [v for v in ("abc_1", "x", "S") if v != default]
    if kind == "color":
        return [[0.25, 0.5, 0.75]]
    if kind == "int_list":
        return [v for v in ([1, 2], [0, 0], None) if v != default]
    if kind == "span":
        lo, hi = meta["lo"], meta["hi"]
        return [[lo, hi], [lo + (hi - lo) / 4, lo + (hi - lo) / 2], None]
    if kind == "choice_list":
        return [list(meta["choices"][:2]), list(meta["choices"][-1:]), []]
    raise AssertionError(f"no candidates for kind {kind}")


def _leaf_paths(cls, prefix=()):
    for f in fields(cls):
        kind = f.metadata["kind"]
        if kind == "nested":
            yield from _leaf_paths(f.metadata["cls"], (*prefix, f.name))
        elif kind == "nested_list":
            yield from _leaf_paths(f.metadata["cls"], (*prefix, f.name, 0))
        else:
            yield (*prefix, f.name), f.metadata


def _round_trip(scene, spec):
    properties.spec_to_scene(spec, scene)
    return properties.spec_from_scene(scene)


def test_each_field_varied_alone_round_trips(scene):
    """Spec -> properties -> spec is exact for a change to any one field (new fields included)."""
    base = schema.GenerationSpec().to_dict()
    varied, unvaried = [], []
    for path, meta in _leaf_paths(schema.GenerationSpec):
        node = base
        for key in path[:-1]:
            node = node[key]
        for value in _candidates(meta, node[path[-1]]):
            data = copy.deepcopy(base)
            target = data
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            try:
                spec = schema.GenerationSpec.from_dict(data)
            except schema.ContractError:
                continue  # e.g. a width wider than the pitch: try the next candidate
            back = _round_trip(scene, spec)
            assert back.to_dict() == spec.to_dict(), f"{'.'.join(map(str, path))} = {value!r}"
            assert back.fingerprint() == spec.fingerprint()
            varied.append(path)
            break
        else:
            unvaried.append(path[-1])
    assert sorted(unvaried) == sorted(UNVARIABLE)
    assert len(varied) >= 50


def test_defect_options_round_trip_together(scene):
    """The options valid only together with another field, set together, come back exactly."""
    data = schema.GenerationSpec().to_dict()
    data["tolerance"] = {"enabled": True, "position": 0.07, "height": 0.12, "tilt": 2.5, "bend": 4.0, "twist": 8.0}
    data["defects"]["classes"][1].update(mode="bend", low=2.0, high=20.0, count_low=2, count_high=4, near_tolerance=0.3)
    spec = schema.GenerationSpec.from_dict(data)
    back = _round_trip(scene, spec)
    assert back.to_dict() == spec.to_dict() and back.fingerprint() == spec.fingerprint()


def test_a_whole_custom_spec_round_trips(scene):
    data = schema.GenerationSpec().to_dict()
    data.update(name="custom-4x5", seed=12345)
    data["grid"].update(cols=4, rows=5, pitch=1.25, pattern="explicit", cells="SRTH/RRSS/HHTT/SSSS/RTRT")
    data["pins"].update(color=[0.123, 0.456, 0.789], hexagon_radius=0.3)
    data["camera"].update(rig="centre", tilt=4.09, jitter_rot_z=0.33)
    data["render"].update(engine="WORKBENCH", width=64, height=32, denoise=True)
    data["defects"] = {
        "classes": [
            {"name": "good", "mode": "ok", "low": 0.0, "high": 0.0, "random_sign": False, "quota": 2.5},
            {"name": "lifted", "mode": "raise", "low": 0.1, "high": 0.3, "random_sign": False, "quota": 1.0},
            {"name": "bent", "mode": "tilt_y", "low": 5.5, "high": 12.25, "random_sign": True, "quota": 0.5},
        ],
        "pin": [3, 4],
    }
    spec = schema.GenerationSpec.from_dict(data)
    back = _round_trip(scene, spec)
    assert json.dumps(back.to_dict(), sort_keys=True) == json.dumps(spec.to_dict(), sort_keys=True)
    assert len(scene.pinscope.defects.classes) == 3 and not scene.pinscope.defects.pin_random
    data["defects"]["pin"] = None  # back to a random pin: the switch, not the stale col/row, decides
    assert _round_trip(scene, schema.GenerationSpec.from_dict(data)).defects.pin is None


def test_a_new_scene_gets_the_default_lists_and_keeps_edits_made_before_first_use(scene):
    fresh = bpy.data.scenes.new("pinscope-fresh")
    try:
        assert len(fresh.pinscope.defects.classes) == 0 and not fresh.pinscope_session.initialised
        fresh.pinscope.grid.rows = 5  # edited before any operator ran
        properties.ensure_initialised(fresh, engine="WORKBENCH", device="GPU")
        spec = properties.spec_from_scene(fresh)
        assert spec.grid.rows == 5 and spec.labels == schema.GenerationSpec().labels
        assert (spec.render.engine, spec.render.device) == ("WORKBENCH", "GPU")
        fresh.pinscope.render.engine = "EEVEE"
        properties.reset_to_defaults(fresh, engine="CYCLES")
        assert properties.spec_from_scene(fresh).to_dict() == schema.GenerationSpec().to_dict()
    finally:
        bpy.data.scenes.remove(fresh)


def test_a_bad_panel_value_is_the_contracts_one_line_error(scene):
    properties.spec_to_scene(schema.GenerationSpec(), scene)
    scene.pinscope.defects.classes[1].name = "Bad Name"
    with pytest.raises(schema.ContractError) as err:
        properties.spec_from_scene(scene)
    assert str(err.value).startswith("spec.defects.classes[1].name: must match")
    assert "\n" not in str(err.value)
    assert properties.spec_problem(scene) == str(err.value)  # what the panel shows in red
    scene.pinscope.defects.classes[1].name = "retract"
    assert properties.spec_problem(scene) == ""


@pytest.mark.parametrize(
    ("value", "expected"), [(4.09, 4.09), (0.1, 0.1), (350.0, 350.0), (1e6, 1e6), (0.025, 0.025), (-12.5, -12.5)]
)
def test_float32_values_read_back_as_the_written_decimal(value, expected):
    import struct

    stored = struct.unpack("<f", struct.pack("<f", value))[0]  # what a Blender float property holds
    assert spec_props.float32_decimal(stored) == expected


def test_a_field_kind_without_mapping_fails_loudly():
    from dataclasses import dataclass

    from pinscope_schema.fields import box_list

    @dataclass
    class Future:
        boxes: list = box_list("Not editable in a panel.")

    with pytest.raises(TypeError, match="Future.boxes: field kind 'box_list' has no panel mapping"):
        spec_props.plan_record(Future)
