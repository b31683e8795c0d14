"""Pure maths of the attention maps and their scores, on small hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest
from pinscope_trainer.attention import maps, scores

GRID = (2, 5)  # non-square on purpose: 2 rows x 5 columns of patches
PATCHES = GRID[0] * GRID[1]


def uniform_attention(layers=3, heads=4, tokens=PATCHES + 1, batch=2):
    return [np.full((batch, heads, tokens, tokens), 1.0 / tokens) for _ in range(layers)]


def identity_attention(layers=3, heads=4, tokens=PATCHES + 1, batch=2):
    return [np.broadcast_to(np.eye(tokens), (batch, heads, tokens, tokens)).copy() for _ in range(layers)]


def focused_attention(k, layers=3, heads=4, prefix=1, batch=1, share=0.8, seed=0):
    """Every token of every head and layer sends `share` of its attention to patch k, the rest at random."""
    rng = np.random.default_rng(seed)
    tokens = PATCHES + prefix
    out = []
    for _ in range(layers):
        rest = rng.random((batch, heads, tokens, tokens))
        rest[..., prefix + k] = 0
        rest = rest / rest.sum(-1, keepdims=True) * (1 - share)
        rest[..., prefix + k] = share
        out.append(rest)
    return out


@pytest.mark.parametrize("fusion", maps.HEAD_FUSIONS)
@pytest.mark.parametrize("make", [uniform_attention, identity_attention])
def test_rollout_of_uniform_or_identity_attention_is_uniform(make, fusion):
    result = maps.rollout(make(), head_fusion=fusion)
    assert result.shape == (2, PATCHES)
    assert np.allclose(result, result[:, :1])


def test_rollout_rows_stay_stochastic_and_keepdim_matters():
    rng = np.random.default_rng(1)
    fused = rng.random((1, 6, 6))
    mixed = maps.with_residual(fused)
    assert np.allclose(mixed.sum(-1), 1.0)
    # vit-explain's bug (sum without keepdim) divides column j by row j's sum: rows then do not sum to 1
    buggy = (fused + np.eye(6)) / (fused + np.eye(6)).sum(-1)
    assert not np.allclose(buggy.sum(-1), 1.0)


def test_discard_keeps_cls_to_cls_and_drops_the_weakest_share():
    fused = np.arange(16, dtype=float).reshape(1, 4, 4)
    fused[0, 0, 0] = -1.0  # the weakest of all, but CLS->CLS must survive
    dropped = maps.discard_weakest(fused, 0.25)
    assert dropped[0, 0, 0] == -1.0
    # 25% of 16 links = the 4 weakest: CLS->CLS (kept, as vit-explain does) and the links 1, 2, 3
    assert set(np.flatnonzero(dropped.reshape(-1) == 0)) == {1, 2, 3}
    assert (dropped.reshape(-1)[4:] == fused.reshape(-1)[4:]).all()


@pytest.mark.parametrize("prefix", [1, 2])
@pytest.mark.parametrize("k", [0, 3, PATCHES - 1])
def test_focused_attention_gives_argmax_k_through_every_method(k, prefix):
    attentions = focused_attention(k, prefix=prefix)
    per_head, mean = maps.cls_attention(attentions[-1], prefix=prefix)
    assert per_head.shape == (1, 4, PATCHES)
    assert (per_head.argmax(-1) == k).all() and mean.argmax(-1)[0] == k
    for fusion in maps.HEAD_FUSIONS:
        for discard in (0.0, 0.5):
            assert maps.rollout(attentions, fusion, discard, prefix=prefix).argmax(-1)[0] == k
    gradients = [np.ones_like(a) for a in attentions]
    assert maps.gradient_relevance(attentions, gradients, prefix=prefix).argmax(-1)[0] == k


def test_gradient_relevance_ignores_negative_evidence():
    attentions = focused_attention(2)
    gradients = [-np.ones_like(a) for a in attentions]  # all evidence against the class
    relevance = maps.gradient_relevance(attentions, gradients)
    assert np.allclose(relevance, 0.0)  # R stays the identity: CLS row over patches is zero


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match="head_fusion"):
        maps.rollout(uniform_attention(), head_fusion="median")
    with pytest.raises(ValueError, match="discard_ratio"):
        maps.rollout(uniform_attention(), discard_ratio=1.0)
    with pytest.raises(ValueError, match="gradients"):
        maps.gradient_relevance(uniform_attention(3), uniform_attention(2))


def test_grid_and_pixels_for_a_non_square_grid():
    patch_map = np.zeros(PATCHES)
    patch_map[1 * GRID[1] + 3] = 1.0  # row 1, column 3
    grid = maps.to_grid(patch_map, GRID)
    assert grid.shape == GRID and grid[1, 3] == 1.0
    # the input is 16 x 40 (patch 8); the render is twice as large: 32 x 80
    placement = maps.Placement.resize((32, 80), (16, 40))
    blocky = maps.patch_to_pixels(grid, 8, (32, 80), placement, smooth=False)
    assert blocky.sum() == 16 * 16  # one patch covers 16 x 16 render pixels
    ys, xs = np.nonzero(blocky)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (16, 31, 48, 63)
    smooth = maps.patch_to_pixels(grid, 8, (32, 80), placement, smooth=True)
    y, x = np.unravel_index(smooth.argmax(), smooth.shape)
    assert 16 <= y < 32 and 48 <= x < 64


def test_pixels_outside_the_input_get_no_weight():
    grid = np.ones(GRID)
    # the input covers the box x 20..60, y 0..16 of a 16 x 80 render
    placement = maps.Placement.resize((16, 80), (16, 40), box=(20, 0, 60, 16))
    pixels = maps.patch_to_pixels(grid, 8, (16, 80), placement, smooth=False)
    assert pixels[:, :20].sum() == 0 and pixels[:, 60:].sum() == 0 and (pixels[:, 20:60] == 1).all()


def test_normalise_handles_constant_maps():
    assert np.allclose(maps.normalise(np.full((3, 4), 2.0)), 0.0)
    out = maps.normalise(np.array([[1.0, 3.0], [2.0, 5.0]]))
    assert out.min() == 0.0 and out.max() == 1.0


# --- scores on constructed maps and masks ------------------------------------------------------
def two_pin_regions():
    regions = np.zeros((10, 20), dtype=np.int32)
    regions[2:6, 2:6] = 1  # pin 0
    regions[2:6, 12:16] = 2  # pin 1
    return regions


def test_scores_of_a_map_on_the_defective_pin():
    regions = two_pin_regions()
    pixel_map = np.zeros((10, 20))
    pixel_map[2:6, 12:16] = 3.0  # all mass on pin 1
    pixel_map[0, 0] = 1.0  # a little on the housing
    result = scores.sample_scores(pixel_map, regions, defect_index=1, defect_box=[12, 2, 16, 6])
    assert result["pointing_box"] is True and result["pointing_mask"] is True
    assert result["mass_defect"] == pytest.approx(48 / 49)
    assert result["mass_background"] == pytest.approx(1 / 49)
    assert result["mass_other_pins"] == 0.0
    assert result["area_defect"] == pytest.approx(16 / 200)


def test_scores_of_a_map_on_the_wrong_pin_and_of_an_ok_sample():
    regions = two_pin_regions()
    pixel_map = np.zeros((10, 20))
    pixel_map[3, 3] = 1.0
    wrong = scores.sample_scores(pixel_map, regions, defect_index=1, defect_box=[12, 2, 16, 6])
    assert wrong["pointing_box"] is False and wrong["pointing_mask"] is False
    assert wrong["mass_other_pins"] == 1.0 and wrong["mass_defect"] == 0.0
    ok = scores.sample_scores(pixel_map, regions, defect_index=-1)
    assert ok["pointing_box"] is None and ok["mass_defect"] is None and ok["mass_other_pins"] == 1.0


def test_pointing_tolerance_and_constant_maps():
    regions = two_pin_regions()
    pixel_map = np.zeros((10, 20))
    pixel_map[3, 17] = 1.0  # one pixel right of pin 1's box
    assert scores.sample_scores(pixel_map, regions, 1, [12, 2, 16, 6])["pointing_box"] is False
    assert scores.sample_scores(pixel_map, regions, 1, [12, 2, 16, 6], tolerance=2)["pointing_box"] is True
    flat = scores.sample_scores(np.ones((10, 20)), regions, 1, [12, 2, 16, 6])
    assert flat["pointing_box"] is False and flat["mass_defect"] == pytest.approx(16 / 200)


def test_regions_from_boxes_match_the_mask_where_boxes_are_tight():
    drawn = scores.regions_from_boxes([[2, 2, 6, 6], [12, 2, 16, 6]], (10, 20))
    assert (drawn == two_pin_regions()).all()


def test_breakdown_groups_by_label_pin_and_view():
    records = [
        {
            "label": "retract",
            "pin": "c1r1",
            "view": "left",
            "pointing_box": True,
            "mass_defect": 0.5,
            "mass_background": 0.2,
            "correct": True,
        },
        {
            "label": "retract",
            "pin": "c2r1",
            "view": "left",
            "pointing_box": False,
            "mass_defect": 0.1,
            "mass_background": 0.6,
            "correct": False,
        },
        {
            "label": "ok",
            "pin": "none",
            "view": "right",
            "pointing_box": None,
            "mass_defect": None,
            "mass_background": 0.9,
            "correct": True,
        },
    ]
    table = scores.breakdown(records)
    assert table["overall"]["n"] == 3 and table["overall"]["accuracy"] == pytest.approx(2 / 3)
    assert table["by_label"]["retract"]["pointing_box"] == 0.5
    assert table["by_label"]["ok"]["pointing_box"] is None
    assert table["by_view"]["left"]["mass_defect"] == pytest.approx(0.3)
    assert set(table["by_pin"]) == {"c1r1", "c2r1", "none"}
    assert scores.pin_position([2, 0]) == "c3r1" and scores.pin_position(None) == "none"


def test_pointing_uses_the_top_patch_mapped_onto_a_larger_render():
    # a 2 x 5 grid of 8 px patches on a 16 x 40 input, shown on a 32 x 80 render (each patch: 16 x 16 px)
    grid = np.zeros(GRID)
    grid[0, 2] = 1.0
    placement = maps.Placement.resize((32, 80), (16, 40))
    blocky = maps.patch_to_pixels(grid, 8, (32, 80), placement, smooth=False)
    regions = np.zeros((32, 80), dtype=np.int32)
    regions[12:20, 44:52] = 1  # pin 0 straddles patches (0, 2), (0, 3), (1, 2) and (1, 3)
    regions[20:28, 4:12] = 2
    hit = scores.sample_scores(blocky, regions, defect_index=0, defect_box=[44, 12, 52, 20])
    assert hit["pointing_box"] is True and hit["pointing_mask"] is True and hit["peak"] == [40, 8]
    miss = scores.sample_scores(blocky, regions, defect_index=1, defect_box=[4, 20, 12, 28])
    assert miss["pointing_box"] is False and miss["mass_defect"] == 0.0
    assert hit["mass_defect"] == pytest.approx(4 * 4 / 256)  # the 4 x 4 corner of the pin inside the top patch


def test_pointing_chance_counts_the_patches_touching_the_box():
    ids = np.arange(1, PATCHES + 1, dtype=float).reshape(GRID)  # 2 x 5 patches of 8 px on a 16 x 40 input
    pixels = np.rint(maps.patch_to_pixels(ids, 8, (16, 40), smooth=False)).astype(int)
    assert scores.pointing_chance(pixels, PATCHES, [6, 6, 10, 10]) == 4 / PATCHES  # a box on a patch corner
    assert scores.pointing_chance(pixels, PATCHES, [1, 1, 3, 3]) == 1 / PATCHES
    assert scores.pointing_chance(pixels, PATCHES, [1, 1, 3, 3], tolerance=4) == 1 / PATCHES  # up to pixel 6
    assert scores.pointing_chance(pixels, PATCHES, [1, 1, 3, 3], tolerance=6) == 4 / PATCHES  # reaches pixel 8


def test_a_map_of_a_register_image_model_moves_to_where_the_camera_saw_the_part():
    from pinscope_trainer.attention.maps import onto_image

    # the model input is the render halved; the camera saw the part 8 input pixels (16 render px) right
    warp = np.array([[1.0, 0.0, 8.0], [0.0, 1.0, 0.0]])
    on_reference = np.zeros((32, 64))
    on_reference[:, 16:32] = 1.0
    moved = onto_image(on_reference, warp, input_hw=(16, 32), smooth=False)
    assert moved[:, 32:48].min() == 1.0 and moved[:, :32].max() == 0.0 and moved[:, 48:].max() == 0.0
    assert onto_image(on_reference, None, (16, 32)) is on_reference
