"""Tests for generation in steps: codes first, then decoding in batches with progress."""

import numpy as np
import pytest

from napari_autoencoders.core.latent import generation
from napari_autoencoders.core.training import fit


@pytest.fixture(scope="module")
def vae(tiny_vae_config, frames):
    return fit(tiny_vae_config(), frames)


def test_iter_decode_gives_the_images_of_decode_with_progress(vae, run_to_end):
    codes = np.random.default_rng(0).standard_normal((7, 2)).astype(np.float32)
    progress, images = run_to_end(generation.iter_decode(vae, codes, batch_size=3))
    assert progress == [(0, 7), (3, 7), (6, 7), (7, 7)]
    np.testing.assert_allclose(images, generation.decode(vae, codes), rtol=1e-5, atol=1e-6)


def test_iter_decode_stops_between_batches(vae):
    steps = generation.iter_decode(vae, np.zeros((10, 2)), batch_size=2)
    assert [next(steps) for _ in range(2)] == [(0, 10), (2, 10)]
    steps.close()  # what a cancelled worker does: no further batch is decoded


def test_codes_in_steps_decode_to_the_one_call_results(vae, frames):
    sampled = generation.decode(vae, generation.sample_codes(vae, 3, temperature=0.5, seed=2))
    np.testing.assert_allclose(sampled, generation.sample(vae, 3, temperature=0.5, seed=2), atol=1e-6)
    line = generation.interpolation_codes(vae, frames[0], frames[1], steps=4)
    np.testing.assert_allclose(
        generation.decode(vae, line), generation.interpolate(vae, frames[0], frames[1], steps=4),
        atol=1e-6,
    )
    noisy = generation.noisy_codes(vae, frames[:3], strength=0.5, seed=1)
    np.testing.assert_allclose(
        generation.decode(vae, noisy),
        generation.reconstruct_noisy(vae, frames[:3], strength=0.5, seed=1),
        atol=1e-6,
    )


def test_mosaic_lays_tiles_out_as_the_manifold(vae):
    points = generation.manifold_points(vae, grid=3)
    tiles = generation.decode(vae, points.reshape(9, -1))
    np.testing.assert_allclose(generation.mosaic(tiles), generation.manifold(vae, grid=3), atol=1e-6)
    with pytest.raises(ValueError, match="square number of tiles, got 8"):
        generation.mosaic(tiles[:8])


def test_codes_in_steps_check_their_options(vae):
    with pytest.raises(ValueError, match="n >= 1"):
        generation.sample_codes(vae, 0)
    with pytest.raises(ValueError, match="at least 2 steps"):
        generation.interpolation_codes(vae, np.zeros((16, 16)), np.zeros((16, 16)), steps=1)
    with pytest.raises(ValueError, match="finite number >= 0"):
        generation.noisy_codes(vae, np.zeros((1, 16, 16)), strength=-1)
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        next(generation.iter_decode(vae, np.zeros((1, 2)), batch_size=0))
