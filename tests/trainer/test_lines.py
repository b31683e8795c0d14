"""Production lines (spec.dataset.lines): each sample is compared with the unit space of its own line, and
each line's difference is measured in units of that line's OK residual."""

import numpy as np
import pytest
from pinscope_trainer.data import PinDataset, Preprocess, unit_key
from pinscope_trainer.features.inputs import view_means
from pinscope_trainer.features.line_scale import residual_level
from pinscope_trainer.synthetic import make_dataset

PRE = Preprocess(labels=("ok",), input_mode="diff", reference="unit", image_size=(32, 96), align="none")


def two_lines(tmp_path):
    """Two lines: line 1 is 1.2 x as bright and twice as noisy as line 0, four references each."""
    return PinDataset(make_dataset(tmp_path / "lines", train=8, validation=4, test=4, reference=8, lines=2))


def test_each_sample_is_compared_with_its_own_lines_mean(tmp_path):
    ds = two_lines(tmp_path)
    rows = ds.rows("train")
    assert [r.line for r in rows] == [0, 1] * 4 and [r.line for r in ds.reference_rows] == [0, 1] * 4
    bank, _views = ds.reference_renders(PRE.image_size)
    refs = ds.references("train", PRE)
    for line in (0, 1):
        own = bank[[i for i, r in enumerate(ds.reference_rows) if r.line == line]].astype(np.float32) / 255.0
        assert np.allclose(refs[line], own.mean(axis=0), atol=1e-6)
    assert not np.allclose(refs[0], refs[1], atol=0.05)  # the brighter line's mean is its own
    assert unit_key(rows[0]) == "centre" and unit_key(rows[1]) == "centre@line1"


def test_each_line_is_scaled_by_its_own_residual_level(tmp_path):
    ds = two_lines(tmp_path)
    level0, level1 = ds.residual_level(PRE, 0), ds.residual_level(PRE, 1)
    assert level1 > 1.3 * level0  # twice the noise (and the same gain spread): a larger OK residual
    trained = Preprocess(**{**PRE.__dict__, "residual_level": ds.residual_level(PRE)})
    factors = ds.line_factors(trained)
    assert factors[0] == pytest.approx(trained.residual_level / level0)
    assert factors[1] == pytest.approx(trained.residual_level / level1)
    plain = ds.inputs("train", PRE, normalised=False)
    scaled = ds.inputs("train", trained, normalised=False)
    for i, row in enumerate(ds.rows("train")):
        assert np.allclose(scaled[i], plain[i] * factors[row.line], atol=1e-6)


def test_a_one_line_dataset_keeps_its_factor_of_exactly_one(tmp_path):
    ds = PinDataset(make_dataset(tmp_path / "one", train=8, validation=4, test=4, reference=6))
    level = ds.residual_level(PRE)
    bank, views = ds.reference_renders(PRE.image_size)
    assert level == residual_level(bank, views, "none")
    trained = Preprocess(**{**PRE.__dict__, "residual_level": level})
    assert ds.line_factors(trained) == {0: 1.0}
    assert np.array_equal(ds.references("train", PRE)[0], view_means(bank, views, False)["centre"])
