import numpy as np
import pytest
import torch

from chronolens import as_series


def test_layouts_and_promotion():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    out = as_series(x)
    assert out.dtype == np.float32 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(as_series(x.transpose(0, 2, 1), layout="nlc"), out)
    assert as_series(x[0]).shape == (1, 3, 4)
    assert as_series(x[0].T, layout="nlc").shape == (1, 3, 4)
    assert as_series(torch.from_numpy(x)).shape == (2, 3, 4)
    assert as_series(x.tolist()).shape == (2, 3, 4)


def test_copy_not_view():
    x = np.zeros((1, 2, 3), dtype=np.float32)
    out = as_series(x)
    out[0, 0, 0] = 5
    assert x[0, 0, 0] == 0


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (np.array([["a"]]), TypeError),
        (np.zeros((2, 3), complex), TypeError),
        (np.zeros(3), ValueError),
    ],
)
def test_errors(value, error):
    with pytest.raises(error):
        as_series(value)
