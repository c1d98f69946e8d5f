"""The clean volumes of the 3D benchmark: structures that span several planes."""

import numpy as np
import pytest

from volumes import blobs_volume, nuclei_volume


@pytest.mark.parametrize("make", [blobs_volume, nuclei_volume])
@pytest.mark.parametrize("shape", [(32, 128, 128), (8, 32, 40)])
def test_shape_range_and_dtype(make, shape):
    volume = make(shape)

    assert volume.shape == shape and volume.dtype == np.float32
    assert volume.min() == pytest.approx(0.05) and volume.max() == pytest.approx(0.95)


@pytest.mark.parametrize("make", [blobs_volume, nuclei_volume])
def test_structures_span_several_planes(make):
    volume = make((32, 96, 96))
    # planes 3 apart still look alike, so a network that sees neighbouring planes gains
    alike = np.corrcoef(volume[10].ravel(), volume[13].ravel())[0, 1]
    assert alike > 0.6
    assert volume.std() > 0.1


@pytest.mark.parametrize("make", [blobs_volume, nuclei_volume])
def test_deterministic_for_a_seed(make):
    np.testing.assert_array_equal(make((8, 32, 32), seed=3), make((8, 32, 32), seed=3))
    assert not np.array_equal(make((8, 32, 32), seed=3), make((8, 32, 32), seed=4))
