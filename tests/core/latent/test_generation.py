"""Tests for sampling, the latent manifold, interpolation and latent noise."""

import dataclasses

import numpy as np
import pytest
import torch

from napari_autoencoders.core.latent import generation
from napari_autoencoders.core.latent.generation import (
    decode,
    encode,
    interpolate,
    manifold,
    manifold_points,
    reconstruct_noisy,
    sample,
)
from napari_autoencoders.core.nn.adversarial import MIXTURE_SPAN, sample_prior
from napari_autoencoders.core.training import fit


@pytest.fixture(scope="module")
def vae(tiny_vae_config, frames):
    return fit(tiny_vae_config(), frames)


@pytest.fixture(scope="module")
def vae_3d(tiny_vae_config, frames):
    model = {"architecture": "vae-dense", "latent_dim": 3, "hidden_dim": 16}
    return fit(tiny_vae_config(model=model), frames)


@pytest.fixture(scope="module")
def plain(tiny_config, frames):
    config = tiny_config(
        model={"architecture": "autoencoder", "input_size": 16, "latent_dim": 2},
        data={"axes": "SYX"},
        training={"task": "reconstruct"},
    )
    return fit(config, frames)


@pytest.fixture(scope="module")
def aae(tiny_config, frames):
    return fit(_aae_config(tiny_config), frames)


@pytest.fixture(scope="module")
def aae_mixture(tiny_config, frames):
    return fit(_aae_config(tiny_config, prior="mixture"), frames)


def _aae_config(tiny_config, **model):
    return tiny_config(
        model={"architecture": "aae", "input_size": 16, "latent_dim": 2, **model},
        data={"axes": "SYX", "augment": False, "percentiles": (0.0, 100.0)},
        training={"task": "aae"},
    )


@pytest.fixture(scope="module")
def denoiser(tiny_config, frames):
    return fit(tiny_config(data={"axes": "SYX"}), frames)


def test_samples_are_a_stack_and_seeded(vae):
    first = sample(vae, 4, temperature=0.8, seed=3)
    assert first.shape == (4, 16, 16) and first.dtype == np.float32
    np.testing.assert_array_equal(first, sample(vae, 4, temperature=0.8, seed=3))
    assert not np.array_equal(first, sample(vae, 4, temperature=0.8, seed=4))


def test_zero_temperature_decodes_the_prior_mean(vae):
    samples = sample(vae, 2, temperature=0.0, source="prior")
    np.testing.assert_allclose(samples, decode(vae, np.zeros((2, 2))), rtol=1e-6)


def test_a_trained_vae_samples_from_the_density_of_its_training_codes(vae, frames):
    assert vae.density is not None  # fitted when the training ended
    codes = encode(vae, frames)
    assert vae.density.means.shape[1] == codes.shape[1] == 2
    # at zero temperature each sample decodes a component's mean, which lies among the codes
    means = vae.density.means
    samples = sample(vae, 4, temperature=0.0)
    component_images = decode(vae, means)
    for image in samples:
        assert np.abs(component_images - image).reshape(len(means), -1).max(axis=1).min() < 1e-5
    assert np.all((means >= codes.min(axis=0) - 1e-6) & (means <= codes.max(axis=0) + 1e-6))
    assert not np.allclose(sample(vae, 4), sample(vae, 4, source="prior"))


def test_a_vae_trained_on_one_frame_ends_with_a_density_at_its_code(tiny_vae_config, frames):
    config = tiny_vae_config()
    config.training.epochs = 1
    single = fit(config, frames[:1])
    assert single.density is not None and len(single.density.weights) == 1
    np.testing.assert_allclose(single.density.means, encode(single, frames[:1]), atol=1e-5)


def test_sampling_from_a_density_the_model_lacks_says_so(vae):
    without = dataclasses.replace(vae, density=None)
    with pytest.raises(ValueError, match="no latent density"):
        sample(without, 2, source="density")
    with pytest.raises(ValueError, match="source of the codes"):
        sample(vae, 2, source="posterior")
    np.testing.assert_allclose(sample(without, 3), sample(vae, 3, source="prior"))


def test_samples_lie_in_the_training_range(vae, frames):
    # a sigmoid output, mapped back by the min-max normalisation
    samples = sample(vae, 8)
    assert samples.min() >= frames.min() - 1e-6 and samples.max() <= frames.max() + 1e-6


def test_manifold_tiles_are_the_decoded_grid_points(vae):
    grid, size = 3, 16
    mosaic = manifold(vae, grid=grid)
    assert mosaic.shape == (grid * size, grid * size)
    points = manifold_points(vae, grid=grid)
    for i in range(grid):
        for j in range(grid):
            tile = mosaic[i * size : (i + 1) * size, j * size : (j + 1) * size]
            np.testing.assert_allclose(tile, decode(vae, points[i, j][None])[0], rtol=1e-5)


def test_manifold_points_grow_right_and_up(vae):
    points = manifold_points(vae, grid=5, span=2.0)
    np.testing.assert_allclose(points[0, :, 0], np.linspace(-2, 2, 5))  # x grows with j
    np.testing.assert_allclose(points[:, 0, 1], np.linspace(2, -2, 5))  # y falls with i


@pytest.mark.parametrize("span", [None, 2.0])
def test_a_manifold_of_one_tile_is_its_centre(vae, span):
    np.testing.assert_allclose(manifold_points(vae, grid=1, span=span), np.zeros((1, 1, 2)))


def test_default_vae_manifold_spans_prior_quantiles(vae):
    points = manifold_points(vae, grid=3)
    np.testing.assert_allclose(points[0, :, 0], [-1.6448536, 0.0, 1.6448536], atol=1e-6)


def test_manifold_of_a_larger_latent_uses_chosen_axes_or_pca(vae_3d, frames):
    points = manifold_points(vae_3d, grid=4, axes=(0, 2), span=1.0)
    np.testing.assert_array_equal(points[..., 1], 0.0)  # the unused axis stays at the prior mean
    pca = manifold_points(vae_3d, grid=4, axes="pca", frames=frames)
    codes = generation.encode(vae_3d, frames)
    centred = pca.reshape(-1, 3) - codes.mean(axis=0)
    assert np.linalg.matrix_rank(centred, tol=1e-5) == 2  # a plane through the mean
    assert manifold(vae_3d, grid=4, axes="pca", frames=frames).shape == (64, 64)


def test_plain_autoencoder_manifold_spans_the_encoded_data(plain, frames):
    points = manifold_points(plain, grid=4, frames=frames)
    codes = generation.encode(plain, frames)
    extent = [codes[:, 0].min(), codes[:, 0].max()]
    np.testing.assert_allclose(points[0, [0, -1], 0], extent, rtol=1e-5)
    assert manifold(plain, grid=4, frames=frames).shape == (64, 64)


@pytest.mark.parametrize("model_name", ["vae", "plain"])
def test_interpolation_ends_at_the_reconstructions(model_name, request, frames):
    model = request.getfixturevalue(model_name)
    path = interpolate(model, frames[0], frames[1], steps=5)
    assert path.shape == (5, 16, 16)
    ends = decode(model, generation.encode(model, frames[:2]))
    np.testing.assert_allclose(path[[0, -1]], ends, atol=1e-5)


def test_noise_strength_zero_reconstructs_and_more_varies(vae, frames):
    plain_reconstruction = decode(vae, generation.encode(vae, frames[:3]))
    exact = reconstruct_noisy(vae, frames[:3], strength=0)
    np.testing.assert_allclose(exact, plain_reconstruction, atol=1e-6)
    noisy = reconstruct_noisy(vae, frames[:3], strength=2.0, seed=1)
    np.testing.assert_array_equal(noisy, reconstruct_noisy(vae, frames[:3], strength=2.0, seed=1))
    assert not np.allclose(noisy, plain_reconstruction)


@pytest.mark.parametrize("call", [
    lambda m, f: sample(m, 2),
    lambda m, f: reconstruct_noisy(m, f[:2]),
])
def test_plain_autoencoders_do_not_generate(plain, frames, call):
    with pytest.raises(ValueError, match="not (generative|variational); train one with task 'vae'"):
        call(plain, frames)


def test_a_denoiser_has_no_latent(denoiser, frames):
    with pytest.raises(ValueError, match="not generative"):
        sample(denoiser, 2)
    with pytest.raises(ValueError, match="has no latent vector"):
        interpolate(denoiser, frames[0], frames[1])


def test_a_one_dimensional_latent_has_no_manifold(tiny_vae_config, frames):
    config = tiny_vae_config(model={"latent_dim": 1}, training={"epochs": 1, "steps_per_epoch": 1})
    model = fit(config, frames)
    with pytest.raises(ValueError, match="latent has 1 dimension"):
        manifold(model, grid=3)


@pytest.mark.parametrize("bad", [np.zeros((2, 20, 20)), np.zeros((16, 16)), np.zeros((2, 20, 20, 3))])
def test_frames_of_another_shape_are_rejected(vae, bad):
    with pytest.raises(ValueError, match=r"frames of shape \(16, 16\)"):
        reconstruct_noisy(vae, bad)


def test_colour_frames_for_a_grey_model_are_told_their_channels(vae):
    with pytest.raises(ValueError, match="takes 1-channel frames but these have 3 channel"):
        reconstruct_noisy(vae, np.zeros((2, 16, 16, 3)))
    # a last axis of the frames' size is no colour: (T, Z, Y, X) planes, say
    with pytest.raises(ValueError, match=r"frames of shape \(16, 16\)"):
        reconstruct_noisy(vae, np.zeros((2, 16, 16, 16)))


@pytest.mark.parametrize("options, message", [
    ({"axes": "pca"}, "give frames"),
    ({"axes": (0, 0)}, "two different latent axes"),
    ({"axes": (0, 5)}, r"in 0..1"),
    ({"grid": 0}, "at least 1 tile"),
])
def test_bad_manifold_options(vae, options, message):
    with pytest.raises(ValueError, match=message):
        manifold(vae, **options)


def test_plain_manifold_needs_frames_or_a_span(plain):
    with pytest.raises(ValueError, match="give frames"):
        manifold(plain)
    assert manifold(plain, grid=2, span=1.0).shape == (32, 32)


def test_an_adversarial_autoencoder_samples_from_its_prior(aae, frames):
    assert aae.density is not None  # it samples its training codes' density by default
    samples = sample(aae, 4, seed=3, source="prior")
    assert samples.shape == (4, 16, 16)
    np.testing.assert_array_equal(samples, sample(aae, 4, seed=3, source="prior"))
    # the standard normal prior: the same draws as a VAE's
    codes = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(samples, decode(aae, codes.numpy()), rtol=1e-6)
    assert samples.min() >= frames.min() - 1e-6 and samples.max() <= frames.max() + 1e-6


def test_a_mixture_prior_samples_around_its_circle(aae_mixture):
    samples = sample(aae_mixture, 3, temperature=0.0, seed=1, source="prior")
    codes = sample_prior("mixture", 3, 2, generator=torch.Generator().manual_seed(1), temperature=0)
    np.testing.assert_allclose(samples, decode(aae_mixture, codes.numpy()), rtol=1e-6)


def test_a_mixture_prior_manifold_spans_its_circle(aae_mixture):
    points = manifold_points(aae_mixture, grid=3)
    np.testing.assert_allclose(points[0, 0], [-MIXTURE_SPAN, MIXTURE_SPAN])
    assert manifold(aae_mixture, grid=3).shape == (48, 48)


def test_an_adversarial_autoencoder_manifold_is_centred_on_the_prior(aae, vae):
    np.testing.assert_allclose(manifold_points(aae, grid=5), manifold_points(vae, grid=5))
    assert interpolate(aae, *np.zeros((2, 16, 16), np.float32), steps=3).shape == (3, 16, 16)


def test_an_adversarial_autoencoder_has_no_latent_noise(aae, frames):
    with pytest.raises(ValueError, match="deterministic, so it has no posterior spread"):
        reconstruct_noisy(aae, frames[:2])
