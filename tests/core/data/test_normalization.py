"""Tests for the per-channel percentile normalisation."""

import numpy as np
import pytest

from napari_autoencoders.core.data.normalization import Normalizer


def ramp_planes(channels=1, scale=1.0):
    """Planes (2, C, 25, 40) holding 0, 1, ... 1999 times ``scale * (c + 1)``."""
    values = np.arange(2000, dtype=np.float64).reshape(2, 1, 25, 40)
    return np.concatenate([values * scale * (c + 1) for c in range(channels)], axis=1)


def test_percentiles_map_to_zero_and_one():
    planes = ramp_planes()
    normalizer = Normalizer.fit(planes, (1.0, 99.0))
    normalized = normalizer.normalize(planes)
    assert normalized.dtype == np.float32 and normalized.shape == planes.shape
    low, high = np.percentile(normalized, [1.0, 99.0])
    assert low == pytest.approx(0.0, abs=1e-6)
    assert high == pytest.approx(1.0, abs=1e-6)


def test_denormalize_inverts_normalize():
    planes = np.random.default_rng(0).normal(100.0, 20.0, (3, 2, 16, 16))
    normalizer = Normalizer.fit(planes)
    restored = normalizer.denormalize(normalizer.normalize(planes))
    np.testing.assert_allclose(restored, planes, rtol=1e-5, atol=1e-4)


def test_channels_are_normalised_independently():
    planes = ramp_planes(channels=2, scale=10.0)
    normalizer = Normalizer.fit(planes, (0.0, 100.0))
    assert normalizer.low == [0.0, 0.0]
    assert normalizer.high == [19990.0, 39980.0]
    normalized = normalizer.normalize(planes)
    np.testing.assert_allclose(normalized[:, 0], normalized[:, 1], atol=1e-6)
    np.testing.assert_allclose(normalized.max(axis=(0, 2, 3)), [1.0, 1.0])


def test_rescaled_multiplies_each_range_and_moves_each_low_by_its_shift():
    planes = np.random.default_rng(0).normal(100.0, 20.0, (3, 2, 16, 16))
    normalizer = Normalizer.fit(planes)
    rescaled = normalizer.rescaled([2.0, 0.5])
    assert rescaled.low == normalizer.low
    expected = normalizer.normalize(planes) / np.array([2.0, 0.5])[:, None, None]
    np.testing.assert_allclose(rescaled.normalize(planes), expected, rtol=1e-5, atol=1e-5)
    shifted = normalizer.rescaled([2.0, 0.5], [0.1, -0.2])
    np.testing.assert_allclose(shifted.normalize(planes), expected - np.array([0.1, -0.2])[:, None, None],
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        normalizer.rescaled([1.0])  # one factor per channel


def test_constant_channel_raises_naming_it():
    planes = ramp_planes(channels=2)
    planes[:, 1] = 7.0
    with pytest.raises(ValueError, match="channel 1 .*constant.*Remove that channel"):
        Normalizer.fit(planes)


def test_the_0th_and_100th_percentiles_are_exact_on_large_data():
    planes = np.zeros((2000, 1, 64, 64), np.float32)
    planes[..., ::2, ::2] = 0.5
    planes[7, 0, 3, 5] = 3.0  # not in a subsample of every other value
    normalizer = Normalizer.fit(planes, (0.0, 100.0))
    assert normalizer.high == [3.0] and normalizer.normalize(planes).max() == 1.0


def test_a_narrow_range_at_a_high_level_keeps_its_levels():
    planes = 1000.0 + 1e-5 * np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    unit = Normalizer.fit(planes, (0.0, 100.0)).normalize(planes)  # NaN before: the range was 0
    assert unit.dtype == np.float32 and np.isfinite(unit).all()
    np.testing.assert_allclose(unit.ravel(), np.arange(16) / 15, atol=1e-6)


def test_sparse_image_falls_back_to_min_and_max():
    planes = np.zeros((1, 1, 32, 32))
    planes[0, 0, 5, 5] = 3.0  # one bright pixel: both percentiles are 0
    normalizer = Normalizer.fit(planes)
    assert (normalizer.low, normalizer.high) == ([0.0], [3.0])


def test_uint16_input():
    planes = (ramp_planes() * 30).astype(np.uint16)
    normalizer = Normalizer.fit(planes, (0.0, 100.0))
    normalized = normalizer.normalize(planes)
    assert normalized.dtype == np.float32
    assert normalized.min() == 0.0 and normalized.max() == pytest.approx(1.0)
    np.testing.assert_allclose(normalizer.denormalize(normalized), planes, rtol=1e-6, atol=1e-2)


def test_wrong_channel_count_raises():
    normalizer = Normalizer.fit(ramp_planes(channels=2))
    with pytest.raises(ValueError, match="2 channel"):
        normalizer.normalize(ramp_planes(channels=3))
    with pytest.raises(ValueError, match="2 channel"):
        normalizer.denormalize(ramp_planes(channels=1))


def test_dict_round_trip():
    normalizer = Normalizer.fit(ramp_planes(channels=2))
    assert Normalizer(**normalizer.to_dict()) == normalizer


def test_volumes_are_normalised_per_channel():
    volumes = ramp_planes(2).transpose(1, 0, 2, 3)[np.newaxis]  # (N, C, Z, Y, X) = (1, 2, 2, 25, 40)
    normalizer = Normalizer.fit(volumes, (0.0, 100.0))

    normalized = normalizer.normalize(volumes)

    assert normalized.shape == volumes.shape
    assert np.allclose(normalizer.denormalize(normalized), volumes, rtol=1e-5)
    assert np.allclose(normalized[:, 0], normalized[:, 1])  # channel 1 is channel 0 doubled


def test_matching_puts_planes_on_the_scale_of_a_noisy_reference():
    rng = np.random.default_rng(0)
    clean = rng.uniform(0.0, 1.0, (2, 2, 32, 32))
    reference = clean + rng.normal(0.0, 0.2, clean.shape)  # noisy, on the normalised scale
    other_units = 500.0 * clean + 100.0  # another acquisition: a gain and an offset
    matched = Normalizer.matching(other_units, reference)
    np.testing.assert_allclose(matched.normalize(other_units), clean, atol=0.02)


def test_matching_refuses_planes_that_fall_as_the_reference_rises():
    clean = ramp_planes()
    assert Normalizer.matching(-clean, clean / clean.max()) is None


def test_values_left_out_do_not_move_the_percentiles():
    image = np.random.default_rng(0).uniform(0.2, 0.6, (1, 2, 64, 64))
    padded = np.pad(image, ((0, 0), (0, 0), (16, 16), (16, 16)), constant_values=1.0)
    canvas = np.ones(padded.shape, dtype=bool)
    canvas[..., 16:-16, 16:-16] = False
    canvas[:, 1] = True  # a channel left out whole keeps its values
    norm = Normalizer.fit(padded, leave_out=canvas)
    assert norm.low[0] == pytest.approx(Normalizer.fit(image).low[0])
    assert norm.high[0] == pytest.approx(Normalizer.fit(image).high[0])
    assert norm.high[1] == Normalizer.fit(padded).high[1] == 1.0


@pytest.mark.parametrize(
    "low, high",
    [([-1e308], [1e308]), ([0.0], [1e-320]), ([0.0], [1e39]), ([0], [10**400]), ([0.0], [1e-40])],
    ids=["range beyond float32", "range below float32", "high beyond float32", "huge integer", "subnormal range"],
)
def test_from_dict_refuses_a_range_unusable_in_float32(low, high):
    with pytest.raises(ValueError, match="channel 0 has the normalisation range .* also in float32"):
        Normalizer.from_dict({"low": low, "high": high})


def test_from_dict_keeps_a_range_usable_in_float32():
    norm = Normalizer.from_dict({"low": [-1e38], "high": [1e38]})
    assert np.isfinite(norm.normalize(np.zeros((1, 1, 2, 2)))).all()
