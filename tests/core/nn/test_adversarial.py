"""Tests for the adversarial autoencoder's prior, discriminator and regularisation phases."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from napari_autoencoders.core.config import ModelConfig
from napari_autoencoders.core.nn.adversarial import (
    MIXTURE_COMPONENTS,
    MIXTURE_RADIUS,
    AdversarialRegularizer,
    Discriminator,
    discriminator_loss,
    generator_loss,
    sample_prior,
)
from napari_autoencoders.core.nn.models import AdversarialAutoencoder, ConvAutoencoder, build_model

CPU = torch.device("cpu")


def network(seed=0, latent_dim=2):
    torch.manual_seed(seed)
    config = ModelConfig(architecture="aae", depth=1, width=4, latent_dim=latent_dim, input_size=8)
    return build_model(config)


def images(seed=0, count=16):
    return torch.rand(count, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def regularizer(net, **options):
    return AdversarialRegularizer(
        net, **{"prior": "gaussian", "rate": 1.0, "seed": 0, "device": CPU, **options}
    )


def weights(module_or_parameters):
    parameters = getattr(module_or_parameters, "parameters", lambda: module_or_parameters)()
    return [p.detach().clone() for p in parameters]


def same(before, after):
    return all(torch.equal(a, b) for a, b in zip(before, after))


def decoder_parameters(net):
    return [*net.from_latent.parameters(), *net.decoder.parameters()]


# -- the prior ------------------------------------------------------------


def test_the_gaussian_prior_is_the_standard_normal():
    draws = sample_prior("gaussian", 20_000, 3, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (20_000, 3)
    np.testing.assert_allclose(draws.mean(0), 0, atol=0.03)
    np.testing.assert_allclose(draws.std(0), 1, atol=0.03)


def test_prior_draws_are_seeded_and_scaled_by_the_temperature():
    def draw(seed, temperature=1.0):
        generator = torch.Generator().manual_seed(seed)
        return sample_prior("mixture", 50, 2, generator=generator, temperature=temperature)

    torch.testing.assert_close(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))
    means = draw(1, temperature=0.0)  # every draw at its component's mean
    torch.testing.assert_close(means.norm(dim=1), torch.full((50,), MIXTURE_RADIUS))
    torch.testing.assert_close(draw(1, 0.5) - means, 0.5 * (draw(1) - means))


def test_the_mixture_prior_fills_ten_directions_on_its_circle():
    draws = sample_prior("mixture", 5_000, 2, generator=torch.Generator().manual_seed(0))
    radius = draws.norm(dim=1)
    assert abs(radius.mean().item() - MIXTURE_RADIUS) < 0.05
    angle = torch.atan2(draws[:, 1], draws[:, 0]) % (2 * math.pi)
    component = torch.round(angle / (2 * math.pi / MIXTURE_COMPONENTS)) % MIXTURE_COMPONENTS
    counts = torch.bincount(component.long(), minlength=MIXTURE_COMPONENTS)
    assert counts.min() > 400  # about 500 each


@pytest.mark.parametrize(
    ("prior", "dim", "message"),
    [("mixture", 3, "the 'mixture' prior is 2-D"), ("laplace", 2, "prior must be one of")],
)
def test_bad_priors_are_refused(prior, dim, message):
    with pytest.raises(ValueError, match=message):
        sample_prior(prior, 4, dim)


# -- the discriminator and its losses ---------------------------------------


def test_the_discriminator_gives_one_logit_per_code_without_a_sigmoid():
    discriminator = Discriminator(5, width=8)
    assert discriminator(torch.randn(7, 5)).shape == (7, 1)
    assert isinstance(discriminator.layers[-1], nn.Linear)
    assert not any(isinstance(m, (nn.Sigmoid, nn.Dropout)) for m in discriminator.modules())


def test_the_discriminator_sees_the_spread_of_the_batch():
    discriminator = Discriminator(2, width=8)
    code = torch.zeros(1, 2)
    gathered = discriminator(torch.cat([code, torch.full((3, 2), 0.01)]))[0]
    spread = discriminator(torch.cat([code, 3 * torch.randn(3, 2)]))[0]
    assert not torch.allclose(gathered, spread)
    assert torch.isfinite(discriminator(code)).all()  # a batch of one has spread 0


def test_the_losses_stay_finite_when_the_discriminator_is_certain():
    # a sigmoid and log(D + eps) would saturate here; logits keep the loss and gradient exact
    real = torch.tensor([[-200.0]], requires_grad=True)
    fake = torch.tensor([[200.0]], requires_grad=True)
    loss = discriminator_loss(real, fake)
    loss.backward()
    assert loss.item() == pytest.approx(400.0)
    assert real.grad.item() == pytest.approx(-1.0) and fake.grad.item() == pytest.approx(1.0)
    assert generator_loss(torch.tensor([[-200.0]])).item() == pytest.approx(200.0)
    assert generator_loss(torch.tensor([[200.0]])).item() == pytest.approx(0.0, abs=1e-6)


# -- the network ------------------------------------------------------------


def test_the_aae_network_has_the_conv_autoencoders_layers_and_a_likelihood_output():
    net = network()
    assert isinstance(net, AdversarialAutoencoder)
    plain = ConvAutoencoder(net.config)
    assert net.state_dict().keys() == plain.state_dict().keys()
    x = images(count=3)
    output = net(x)
    torch.testing.assert_close(output, torch.sigmoid(net.decode_logits(net.encode(x))))
    assert output.min() >= 0 and output.max() <= 1  # bce: a sigmoid, for data in [0, 1]
    encoder = {id(p) for p in net.encoder_parameters()}
    assert encoder.isdisjoint(id(p) for p in decoder_parameters(net))


# -- the phases ---------------------------------------------------------------


def test_the_discriminator_step_changes_only_the_discriminator():
    net = network()
    reg = regularizer(net)
    before_net, before_d = weights(net), weights(reg.discriminator)
    reg.discriminator_step(images())
    assert same(before_net, weights(net))
    assert not same(before_d, weights(reg.discriminator))
    assert all(p.grad is None for p in net.parameters())  # no gradient reached the encoder


def test_the_generator_step_changes_only_the_encoder():
    net = network()
    reg = regularizer(net)
    before_d, before_decoder = weights(reg.discriminator), weights(decoder_parameters(net))
    before_encoder = weights(net.encoder_parameters())
    reg.generator_step(images())
    assert same(before_d, weights(reg.discriminator))
    assert all(p.grad is None for p in reg.discriminator.parameters())
    assert all(p.requires_grad for p in reg.discriminator.parameters())  # unfrozen after
    assert same(before_decoder, weights(decoder_parameters(net)))
    assert not same(before_encoder, weights(net.encoder_parameters()))


def test_the_generator_step_ignores_gradients_left_by_the_reconstruction_phase():
    clean, stale = network(), network()
    for p in stale.parameters():  # what the reconstruction phase leaves behind
        p.grad = torch.full_like(p, 1e3)
    clean_reg, stale_reg = regularizer(clean), regularizer(stale)
    stale_reg.discriminator.load_state_dict(clean_reg.discriminator.state_dict())
    clean_reg.generator_step(images())
    stale_reg.generator_step(images())
    assert same(weights(clean), weights(stale))


def test_a_step_runs_both_phases_at_a_share_of_the_learning_rate():
    reg = regularizer(network(), rate=0.25)
    d_loss, g_loss = reg.step(images(), 0.004)
    assert math.isfinite(d_loss) and math.isfinite(g_loss)
    for optimizer in (reg.discriminator_optimizer, reg.encoder_optimizer):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.001)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_codes_move_toward_the_prior(seed):
    # start with every code near (3, 3); the standard normal prior pulls them to 0 and spreads them
    net = network(seed)
    with torch.no_grad():
        net.to_latent.bias += 3.0
    x = images(seed, count=64)
    reg = regularizer(net, seed=seed)

    def moments():
        with torch.no_grad():
            codes = net.encode(x)
        return codes.mean(0).norm().item(), codes.std(0).mean().item()

    start_distance, start_spread = moments()
    for _ in range(40):
        reg.step(x, 3e-3)
    distance, spread = moments()
    assert start_distance > 4 and distance < start_distance / 2
    assert spread > 2 * start_spread


def test_the_discriminator_is_not_part_of_the_network():
    net = network()
    before = copy.deepcopy(net.state_dict())
    regularizer(net)
    assert net.state_dict().keys() == before.keys()
