import numpy as np
import pytest

from napari_autoencoders.core.data.resolution import (
    Downscale,
    PairSampler,
    downscale,
    pair_samplers,
    parse_downscale,
    training_pairs,
    upscale_interpolated,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("area", Downscale("area")), ("gaussian:1.5", Downscale("gaussian", 1.5)),
     (" Gaussian:0.5 ", Downscale("gaussian", 0.5))],
)
def test_parse_downscale(spec, expected):
    assert parse_downscale(spec) == expected


@pytest.mark.parametrize(
    "spec", ["box", "gaussian", "gaussian:0", "gaussian:x", "area:2", "gaussian:inf", "gaussian:1e9"]
)
def test_parse_downscale_rejects_bad_specs(spec):
    with pytest.raises(ValueError, match="gaussian:SIGMA"):
        parse_downscale(spec)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_area_downscale_averages_blocks_and_drops_the_remainder(factor):
    image = np.random.default_rng(0).random((2, 5 * factor + 1, 3 * factor + factor - 1))
    small = downscale(image, factor)
    assert small.shape == (2, 5, 3) and small.dtype == np.float32
    block = image[1, factor : 2 * factor, 2 * factor : 3 * factor]
    assert small[1, 1, 2] == pytest.approx(block.mean(), rel=1e-5)


@pytest.mark.parametrize("method", ["area", "gaussian:1.0"])
def test_downscaling_an_image_smaller_than_the_factor_says_so(method):
    with pytest.raises(ValueError, match="3x9 image has no pixel left when shrunk by 4"):
        downscale(np.zeros((3, 9)), 4, method=method)


@pytest.mark.parametrize("method", ["area", "gaussian:1.0"])
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_downscale_keeps_the_block_centre_geometry(method, factor):
    # a ramp x -> x lands on the block centres factor * i + (factor - 1) / 2
    ramp = np.tile(np.arange(12 * factor, dtype=np.float32), (12 * factor, 1))
    small = downscale(ramp, factor, method=method)
    centres = factor * np.arange(12) + (factor - 1) / 2
    np.testing.assert_allclose(small[3:-3, 3:-3], np.tile(centres, (12, 1))[3:-3, 3:-3], atol=1e-3)


@pytest.mark.parametrize("order", [1, 3])
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_upscale_interpolated_is_the_inverse_geometry(order, factor):
    # low pixel i holds i: high pixel j must hold its centre (j + 0.5) / factor - 0.5
    low = np.tile(np.arange(10, dtype=np.float32), (3, 10, 1))
    high = upscale_interpolated(low, factor, order=order)
    assert high.shape == (3, 10 * factor, 10 * factor)
    inner = slice(2 * factor, 8 * factor)
    expected = (np.arange(10 * factor) + 0.5) / factor - 0.5
    # Keys' cubic (a = -0.75) follows a ramp only to a few hundredths, but without a shift
    np.testing.assert_allclose(high[1, 5, inner], expected[inner], atol=1e-4 if order == 1 else 0.05)
    assert np.mean(high[1, 5, inner] - expected[inner]) == pytest.approx(0, abs=1e-4)


def test_upscale_interpolated_rejects_other_orders():
    with pytest.raises(ValueError, match="bicubic"):
        upscale_interpolated(np.zeros((4, 4)), 2, order=2)


def pairs(inputs, targets=None, *, axes="YX", factor=2, paired=False, patch_size=8, method="area"):
    return training_pairs(
        inputs, targets, axes=axes, factor=factor, method=method, paired=paired,
        patch_size=patch_size,
    )


@pytest.mark.parametrize(("axes", "shape"), [("YX", (33, 41)), ("SYX", (2, 33, 41)), ("YXC", (33, 41, 3))])
def test_training_pairs_from_a_larger_image(axes, shape):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    low, high = pairs(image, axes=axes, factor=4)
    channels = 3 if "C" in axes else 1
    assert low.shape[1:] == (channels, 8, 10)
    assert high.shape[1:] == (channels, 32, 40)
    np.testing.assert_allclose(downscale(high, 4), low)


def test_paired_training_pairs_are_checked():
    low, high = np.zeros((10, 12), np.float32), np.ones((30, 36), np.float32)
    got_low, got_high = pairs(low, high, factor=3, paired=True)
    assert got_low.shape == (1, 1, 10, 12) and got_high.shape == (1, 1, 30, 36)
    with pytest.raises(ValueError, match="not 2 times"):
        pairs(low, high, factor=2, paired=True)
    with pytest.raises(ValueError, match="high-resolution target"):
        pairs(low, None, paired=True)
    with pytest.raises(ValueError, match="only used in paired mode"):
        pairs(high, low)


def test_an_image_too_small_after_downscaling_is_rejected():
    with pytest.raises(ValueError, match=r"factor 4 .* 7x7 pixels \(from 30x30\).* at most 7"):
        pairs(np.zeros((30, 30), np.float32), factor=4, patch_size=8)


def test_pair_sampler_cuts_matching_augmented_patches():
    high = np.random.default_rng(1).random((2, 1, 48, 48)).astype(np.float32)
    low = downscale(high, 3)
    sampler = PairSampler(
        low, high, factor=3, patch_size=6, batch_size=16, augment=True,
        rng=np.random.default_rng(0),
    )
    small, large = sampler.sample()
    assert small.shape == (16, 1, 6, 6) and large.shape == (16, 1, 18, 18)
    # flips and rotations commute with block averaging: every pair still matches
    np.testing.assert_allclose(downscale(large.numpy(), 3), small.numpy(), atol=1e-6)


@pytest.mark.parametrize("count", [1, 4])
def test_pair_samplers_hold_out_matching_validation_data(count):
    high = np.random.default_rng(2).random((count, 1, 64, 64)).astype(np.float32)
    low = downscale(high, 2)
    train, val = pair_samplers(
        low, high, factor=2, patch_size=8, batch_size=4, validation_fraction=0.25,
        augment=True, seed=0, rng=np.random.default_rng(0),
    )
    for sampler in (train, val):
        np.testing.assert_allclose(downscale(sampler.high.numpy(), 2), sampler.low.numpy(), atol=1e-6)
    assert train.low.numel() + val.low.numel() == low.size
    assert not val.augment
