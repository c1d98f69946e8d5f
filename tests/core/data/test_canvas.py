"""Constant regions: canvases and masks, told from clipped data."""

import numpy as np
import pytest
from skimage import data, img_as_float32

from napari_autoencoders.core.data.canvas import canvas_mask, flat_pixels, reflect_into
from napari_autoencoders.core.data.noise import add_noise


@pytest.fixture(scope="module")
def counts():
    """A 128x128 crop of the moon on [0, 1] at 30 photons."""
    image = img_as_float32(data.moon())[:128, :128]
    low, high = np.percentile(image, (1, 99.8))
    return add_noise(np.clip((image - low) / (high - low), 0, 1), "poisson:30+gaussian:0.01", seed=5)


@pytest.mark.parametrize("where", ["median", "least", "greatest", "above"])
def test_a_canvas_at_any_value_is_flat_and_the_image_is_not(counts, where):
    value = {"median": np.median(counts), "least": counts.min(), "greatest": counts.max(), "above": 2.0}[where]
    padded = np.pad(counts, 32, constant_values=value)
    flat = flat_pixels(padded)
    assert flat[:32].all() and flat[-32:].all() and flat[:, :32].all() and flat[:, -32:].all()
    assert flat.sum() == padded.size - counts.size


def test_regions_that_clipping_made_are_kept():
    # a ramp over-exposed at one end and under at the other, clipped: piles at 0 and 1
    ramp = np.tile(np.linspace(-0.5, 1.5, 160, dtype=np.float32), (96, 1))
    clipped = np.clip(add_noise(ramp, "gaussian:0.05", seed=0), 0.0, 1.0)
    assert (clipped == 1.0).sum() > 49 * 20 and (clipped == 0.0).sum() > 49 * 20
    assert not flat_pixels(clipped).any()
    anywhere = flat_pixels(clipped, anywhere=True)
    assert anywhere[:, :20].all() and anywhere[:, -20:].all()


def test_a_canvas_beside_clipped_data_is_told_apart():
    ramp = np.tile(np.linspace(0.0, 1.5, 128, dtype=np.float32), (128, 1))
    clipped = np.clip(add_noise(ramp, "gaussian:0.05", seed=0), 0.0, 1.0)
    clipped[:, :32] = 1.0  # a white canvas on the dark side: no clipped pixels frame it
    flat = flat_pixels(clipped)
    assert flat[:, :32].all() and not flat[:, -20:].any()


def test_canvas_mask_finds_each_planes_canvas(counts):
    planes = np.stack([np.pad(counts, 16, constant_values=value) for value in (counts.max(), 0.3)])[:, None]
    mask = canvas_mask(planes)  # (2, 1, Y, X)
    assert mask.shape == planes.shape
    np.testing.assert_array_equal(mask[0, 0], flat_pixels(planes[0, 0]))
    assert mask[:, :, :16].all() and not mask[:, :, 16:-16, 16:-16].any()


def test_reflect_into_a_frame_mirrors_the_content_as_numpy_pads_it():
    content = np.random.default_rng(0).normal(size=(2, 20, 30)).astype(np.float32)
    padded = np.pad(content, ((0, 0), (6, 6), (6, 6)), constant_values=7.0)
    mask = padded == 7.0
    out = reflect_into(padded, mask)
    assert out.dtype == padded.dtype and not np.shares_memory(out, padded)
    assert np.array_equal(out, np.pad(content, ((0, 0), (6, 6), (6, 6)), mode="reflect"))


def test_reflect_into_takes_the_nearest_content_where_the_mirror_falls_outside():
    plane = np.zeros((5, 40), np.float32)
    plane[:, :3] = [[1, 2, 3]]  # 3 columns of content, 37 of canvas
    out = reflect_into(plane, plane == 0)
    assert np.array_equal(out[:, 3:5], [[2, 1]] * 5)  # mirrored across column 2
    assert np.all(out[:, 5:] == 3)  # beyond the content's width: its edge


def test_reflect_into_keeps_planes_all_masked_or_not_masked():
    planes = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    mask = np.zeros(planes.shape, bool)
    mask[0] = True
    assert np.array_equal(reflect_into(planes, mask), planes)


@pytest.mark.parametrize("columns", [slice(0, 4), slice(20, 27), slice(-4, None)])
def test_the_narrowest_flat_regions_are_found_at_an_edge_and_within(columns):
    image = np.random.default_rng(0).normal(size=(32, 40)).astype(np.float32)
    image[8:20, columns] = 2.0  # 4 columns at an edge mirror into a 7x7 window; 7 within
    flat = flat_pixels(image, anywhere=True)
    assert flat[8:20, columns].all() and flat.sum() == flat[8:20, columns].size


def test_an_image_without_seven_equal_neighbours_in_a_row_has_no_flat_region():
    image = np.random.default_rng(0).normal(size=(32, 40)).astype(np.float32)
    image[:, 10:16] = 2.0  # six columns: no 7x7 window
    assert not flat_pixels(image, anywhere=True).any()
