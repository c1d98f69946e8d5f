"""Tests for the U-Net and the convolutional autoencoder."""

import pytest
import torch

from napari_autoencoders.core.config import Config, ModelConfig
from napari_autoencoders.core.nn.models import (
    ConvAutoencoder,
    ConvVAE,
    Phased,
    UNet,
    build_model,
    pad_to_multiple,
    phased,
)


def unet(**options):
    torch.manual_seed(0)
    return build_model(ModelConfig(**{"width": 8, **options}))


def autoencoder(**options):
    torch.manual_seed(0)
    defaults = {"architecture": "autoencoder", "width": 8, "depth": 3, "latent_dim": 2}
    return build_model(ModelConfig(**{**defaults, "input_size": 28, **options}))


def test_build_model_picks_the_architecture():
    assert isinstance(unet(), UNet)
    assert isinstance(autoencoder(), ConvAutoencoder)


def test_build_model_validates_the_config():
    with pytest.raises(ValueError, match="model.depth"):
        build_model(ModelConfig(depth=0))


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize(
    ("shape", "channels_out"),
    [((1, 1, 37, 53), 1), ((2, 3, 20, 31), 3), ((2, 3, 20, 31), 1), ((1, 1, 5, 3), 2)],
)
def test_unet_output_has_the_input_size(depth, shape, channels_out):
    network = unet(depth=depth, in_channels=shape[1], out_channels=channels_out).eval()
    with torch.no_grad():
        out = network(torch.rand(shape))
    assert out.shape == (shape[0], channels_out) + shape[2:]
    assert torch.isfinite(out).all()


def test_unet_output_depends_on_the_input():
    network = unet().eval()
    x = torch.rand((1, 1, 16, 16))
    with torch.no_grad():
        assert not torch.allclose(network(x), network(x + 1))


def test_residual_unet_adds_its_input():
    plain = unet(in_channels=2, out_channels=2)
    residual = unet(in_channels=2, out_channels=2, residual=True)
    residual.load_state_dict(plain.state_dict())
    x = torch.rand((2, 2, 19, 23))
    with torch.no_grad():
        torch.testing.assert_close(residual(x) - plain(x), x)


def test_pad_to_multiple():
    x = torch.rand((1, 2, 9, 16))
    padded, size = pad_to_multiple(x, 8)
    assert padded.shape == (1, 2, 16, 16) and size == (9, 16)
    assert torch.equal(padded[..., :9, :], x)
    # a side shorter than its padding falls back to edge replication
    padded, _ = pad_to_multiple(torch.rand((1, 1, 3, 3)), 8)
    assert padded.shape == (1, 1, 8, 8)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_autoencoder_shapes_with_input_not_a_multiple_of_the_downsampling(depth):
    network = autoencoder(depth=depth, in_channels=2, out_channels=2).eval()
    x = torch.rand((3, 2, 28, 28))
    with torch.no_grad():
        latent = network.encode(x)
        assert latent.shape == (3, 2)
        assert network.decode(latent).shape == (3, 2, 28, 28)
        assert network(x).shape == (3, 2, 28, 28)


def test_autoencoder_passes_only_through_the_latent():
    network = autoencoder().eval()
    x = torch.rand((2, 1, 28, 28))
    with torch.no_grad():
        torch.testing.assert_close(network(x), network.decode(network.encode(x)))


@pytest.mark.parametrize("shape", [(1, 1, 32, 32), (1, 1, 28, 27)])
def test_autoencoder_rejects_other_input_sizes(shape):
    with pytest.raises(ValueError, match="28x28"):
        autoencoder().encode(torch.rand(shape))


@pytest.mark.parametrize("architecture", ["vae", "vae-dense"])
@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_vae_shapes_and_output_range(architecture, loss):
    torch.manual_seed(0)
    config = ModelConfig(
        architecture=architecture, width=4, hidden_dim=16, latent_dim=3, input_size=12,
        in_channels=2, out_channels=2, reconstruction_loss=loss,
    )
    network = build_model(config)
    x = torch.rand(5, 2, 12, 12)
    raw, mu, logvar = network.variational(x)
    assert raw.shape == x.shape and mu.shape == logvar.shape == (5, 3)
    reconstruction = network(x)
    assert reconstruction.shape == x.shape
    if loss == "bce":  # a sigmoid output: the raw output is logits
        torch.testing.assert_close(reconstruction, torch.sigmoid(network.decode_logits(mu)))
    else:
        torch.testing.assert_close(reconstruction, network.decode_logits(mu))


def test_conv_vae_reuses_the_autoencoder_layers():
    config = ModelConfig(architecture="vae", width=4, latent_dim=2, input_size=16)
    vae = build_model(config)
    plain_config = ModelConfig(architecture="autoencoder", width=4, latent_dim=2, input_size=16)
    plain = build_model(plain_config)
    assert isinstance(vae, ConvVAE) and isinstance(vae, ConvAutoencoder)
    extra = set(vae.state_dict()) - set(plain.state_dict())
    assert extra == {"to_logvar.weight", "to_logvar.bias"}


@pytest.mark.parametrize("architecture", ["vae", "vae-dense"])
def test_vae_rejects_other_input_sizes(architecture):
    network = build_model(ModelConfig(architecture=architecture, width=4, input_size=16))
    with pytest.raises(ValueError, match="takes 16x16 images"):
        network.encode_distribution(torch.zeros(1, 1, 20, 20))


@pytest.mark.parametrize("shape", [(1, 1, 8, 16, 16), (2, 1, 5, 13, 17), (1, 1, 1, 9, 6)])
def test_3d_unet_keeps_the_volume_shape(shape):
    network = unet(spatial_dims=3, depth=2)

    assert network(torch.rand(shape)).shape == shape
    assert any(isinstance(layer, torch.nn.Conv3d) for layer in network.modules())


def test_3d_residual_unet_of_zero_output_is_the_identity():
    network = unet(spatial_dims=3, residual=True)
    torch.nn.init.zeros_(network.head.weight)
    torch.nn.init.zeros_(network.head.bias)
    x = torch.rand(1, 1, 4, 8, 8)

    assert torch.equal(network(x), x)


def test_2d_unet_has_the_same_weights_as_before_3d():
    """spatial_dims 2 (the default) builds the same layers, so old model files load."""
    names = {name: tuple(p.shape) for name, p in unet(depth=1).state_dict().items()}

    assert names["down.0.0.weight"] == (8, 1, 3, 3)
    assert names["up.0.weight"] == (16, 8, 2, 2)
    assert all(len(shape) in (1, 4) for shape in names.values())


def test_pad_to_multiple_pads_z_y_x_of_a_volume():
    padded, sizes = pad_to_multiple(torch.rand(1, 1, 3, 5, 8), 4, dims=3)

    assert padded.shape == (1, 1, 4, 8, 8) and sizes == (3, 5, 8)
def decoder_padding(network):
    convs = [layer for layer in network.decoder if isinstance(layer, torch.nn.Conv2d)]
    return {layer.padding_mode for layer in convs if layer.kernel_size == (3, 3)}


@pytest.mark.parametrize("architecture", ["autoencoder", "vae", "aae"])
def test_a_config_from_before_the_padding_field_builds_the_zero_padded_decoder(architecture):
    config = ModelConfig(architecture=architecture, width=4, latent_dim=2, input_size=16)
    old = Config(model=config).to_dict()
    del old["model"]["padding"]  # as in the model files written before the field
    old["training"]["task"] = {"autoencoder": "reconstruct"}.get(architecture, architecture)
    old["data"].update(patch_size=16, percentiles=[0.0, 100.0])
    model_config = Config.from_dict(old).model
    assert model_config.padding == "zeros"
    assert decoder_padding(build_model(model_config)) == {"zeros"}


def test_replicate_padding_keeps_the_weights_and_changes_the_border_alone():
    zeros = autoencoder(depth=2, input_size=16)
    replicate = autoencoder(depth=2, input_size=16, padding="replicate")
    assert decoder_padding(replicate) == {"replicate"}
    replicate.load_state_dict(zeros.state_dict())  # the same weights fit either padding
    with torch.no_grad():
        codes = torch.randn(3, 2)
        framed, replicated = zeros.decode(codes), replicate.decode(codes)
    # each 3x3 convolution reaches one pixel further in: 1 at 8x8, then 2 + 1 at 16x16
    torch.testing.assert_close(framed[..., 3:-3, 3:-3], replicated[..., 3:-3, 3:-3])
    assert not torch.allclose(framed[..., 0, :], replicated[..., 0, :])


def test_the_opponent_colours_are_orthonormal():
    from napari_autoencoders.core.nn.models import opponent_matrix

    matrix = opponent_matrix()
    torch.testing.assert_close(matrix @ matrix.T, torch.eye(3))  # white noise stays white


def test_opponent_colours_denoise_the_rotated_channels_and_rotate_back():
    from napari_autoencoders.core.nn.models import opponent_matrix

    options = dict(in_channels=3, out_channels=3, residual=True, noise_variance=0.01)
    plain = unet(**options).eval()
    colours = unet(**options, opponent_colours=True).eval()
    colours.load_state_dict(plain.state_dict())
    x = torch.rand((2, 3, 16, 16))
    rotated = torch.einsum("dc,bcyx->bdyx", opponent_matrix(), x)
    with torch.no_grad():
        expected = torch.einsum("cd,bcyx->bdyx", opponent_matrix(), plain(rotated))
        torch.testing.assert_close(colours(x), expected)


@pytest.mark.parametrize("strides", [(1, 3), (2, 1), (3, 3)])
def test_phased_applies_the_network_to_each_phase_as_prediction_splits_them(strides):
    from napari_autoencoders.core.data.correlation import phase_function

    network = torch.nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(2, 2, 12, 18)
    with torch.no_grad():
        split = phase_function(lambda batch: network(torch.from_numpy(batch)).numpy(), strides)
        torch.testing.assert_close(Phased(network, strides)(x), torch.from_numpy(split(x.numpy())))


def test_a_traced_phased_network_takes_other_sizes_and_strides_1_1_are_no_wrap():
    network = torch.nn.Conv2d(1, 1, 3, padding=1)
    assert phased(network, (1, 1)) is network
    wrapped = phased(network, [1, 3])
    with torch.no_grad():
        traced = torch.jit.trace(wrapped, torch.randn(1, 1, 12, 18))
        y = torch.randn(3, 1, 10, 30)
        torch.testing.assert_close(traced(y), wrapped(y))
