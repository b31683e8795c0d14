"""Pure core: layout, shapes and defect placement agree with the contract's coordinates."""

import math

import pytest

from blender_addon.contract import schema
from blender_addon.core import defects, layout, shapes


def spec_with(**parts):
    return schema.GenerationSpec.from_dict(parts)


def test_pin_centres_indices_and_cells_follow_the_contract():
    spec = spec_with()
    cells = layout.pin_cells(spec)
    assert len(cells) == 27 and cells[0] == (0, 0) and cells[1] == (1, 0) and cells[3] == (0, 1)
    for index, (col, row) in enumerate(cells):
        assert layout.pin_index(spec, col, row) == index
        assert layout.pin_cell(spec, index) == (col, row)
    assert layout.pin_centre(spec, 0, 0) == (-1.0, -4.0, 0.0)  # the seed's (x - 1, y - 4)
    assert layout.pin_centre(spec, 2, 8) == (1.0, 4.0, 0.0)


def test_housing_box_spans_cells_plus_margin_from_the_pin_base():
    spec = spec_with(housing={"margin": 0.5, "height": 0.8})
    box = layout.housing_box(spec)
    assert (box.xmin, box.xmax, box.ymin, box.ymax) == (-2.0, 2.0, -5.0, 5.0)
    assert box.zmin == -1.0 and box.top == pytest.approx(-0.2)
    assert layout.housing_box(spec_with(housing={"kind": "none"})) is None


@pytest.mark.parametrize("shape", ["square", "round", "triangle", "hexagon"])
def test_prism_planes_contain_exactly_the_mesh(shape):
    pins = schema.PinSpec()
    verts, faces, smooth = shapes.prism_mesh(pins, shape)
    planes = shapes.prism_planes(pins, shape)
    for v in verts:  # every vertex on or inside every half-space
        assert all(a * v[0] + b * v[1] + c * v[2] <= d + 1e-9 for a, b, c, d in planes)
    for a, b, c, d in planes:  # every plane touches the mesh
        assert max(a * v[0] + b * v[1] + c * v[2] for v in verts) == pytest.approx(d)
    assert len(faces) == len(smooth) and all(len(f) >= 3 for f in faces)
    ring = shapes.footprint(pins, shape)
    xs, ys = [x for x, _ in ring], [y for _, y in ring]
    width = max(max(xs) - min(xs), max(ys) - min(ys))
    assert width <= pins.footprint(shape) + 1e-9  # the cross-section fits the width the spec checks


def test_chamfered_box_planes_cut_its_top_edges():
    spec = spec_with(housing={"chamfer": 0.2})
    box = layout.housing_box(spec)
    verts, faces = shapes.box_mesh(box)
    planes = shapes.box_planes(box)
    assert len(verts) == 12 and len(faces) == 10 and len(planes) == 10
    for v in verts:
        assert all(a * v[0] + b * v[1] + c * v[2] <= d + 1e-9 for a, b, c, d in planes)
    corner = (box.xmax, box.ymax, box.top)  # the sharp corner is cut away
    assert any(a * corner[0] + b * corner[1] + c * corner[2] > d + 1e-6 for a, b, c, d in planes)


@pytest.mark.parametrize("tilt", [(10.0, 0.0), (0.0, -10.0), (30.0, 20.0)])
def test_tilt_pivots_on_the_pin_base(tilt):
    spec = spec_with()
    placement = defects.pin_placement(spec, 1, 4, tilt_x=tilt[0], tilt_y=tilt[1])
    base = placement.point((0.0, 0.0, -1.0))
    assert base == pytest.approx((0.0, 0.0, -1.0))
    top = placement.point((0.0, 0.0, 1.0))
    # tilt_x leans the pin along -Y for a positive angle (right-handed rotation about X).
    assert math.degrees(math.acos((top[2] - base[2]) / 2.0)) == pytest.approx(math.hypot(*tilt), rel=0.1)


def test_shift_and_retract_move_the_pin_rigidly():
    spec = spec_with()
    placement = defects.pin_placement(spec, 2, 0, dx=0.1, dy=-0.2, dz=-0.5)
    assert placement.point((0.0, 0.0, 0.0)) == pytest.approx((1.1, -4.2, -0.5))


@pytest.mark.parametrize(
    "col,row,mode,amount,code",
    [
        (2, 0, "retract", 0.5, "31D05"),
        (0, 1, "tilt_x", 10.0, "12X10"),
        (2, 8, "tilt_y", -10.0, "39Y10"),
        (1, 1, "missing", 0.0, "22M00"),
        (0, 0, "tilt_x", 7.5, "11X07.5"),
        (2, 0, "bend", 20.0, "31B20"),
        (0, 1, "twist", -30.0, "12T30"),
        (1, 2, "tip", 0.2, "23C02"),
        (0, 0, "ok", 0.0, "OK"),
    ],
)
def test_qeu_codes_use_one_based_column_and_row(col, row, mode, amount, code):
    assert defects.qeu_code(col, row, mode, amount) == code
    row_record = schema.SampleRow(
        file_name="a.png", label="x", qeu_code=code, mode=mode, pin=None if mode == "ok" else [col, row]
    )
    row_record.validate()  # the contract accepts the code
