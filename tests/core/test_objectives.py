"""Tests for the objectives: each task's batches, loss and result to beat."""

import pytest
import torch

from napari_autoencoders.core import objectives
from napari_autoencoders.core.calibration import Calibration
from napari_autoencoders.core.config import PRIOR_NETWORK
from napari_autoencoders.core.data.stabilization import NoiseModel
from napari_autoencoders.core.nn.models import build_model

CPU = torch.device("cpu")


def _objective(config, calibration=None):
    network = build_model(config.validate().model)
    return objectives.objective_for(config, network, CPU, calibration or Calibration())


@pytest.mark.parametrize(
    "overrides, kind",
    [
        ({}, objectives.BlindSpot),
        ({"training": {"mode": "synthetic", "noise": "gaussian:0.1"}}, objectives.Synthetic),
        ({"training": {"mode": "paired"}}, objectives.Denoising),
        ({"model": dict(PRIOR_NETWORK), "training": {"pretrained": True}}, objectives.Recorrupted),
        ({"model": dict(PRIOR_NETWORK, noise_gain=0.01), "training": {"pretrained": True}}, objectives.Thinned),
        ({"training": {"task": "reconstruct"}, "model": {"architecture": "autoencoder", "input_size": 16}},
         objectives.Objective),
    ],
)
def test_each_task_and_mode_has_its_objective(tiny_config, overrides, kind):
    assert type(_objective(tiny_config(**overrides))) is kind


def test_blind_spot_batches_mask_pixels_and_count_only_them(tiny_config):
    objective = _objective(tiny_config(training={"mask_fraction": 0.05}))
    patches = torch.rand(2, 1, 32, 32)
    x, y, mask = objective.batch(patches, patches, torch.Generator().manual_seed(0))
    changed = x != y
    assert mask.any() and not changed[~mask.bool()].any()  # only masked pixels differ
    loss, codes = objective.loss(x, y, mask, step=0)
    assert loss.ndim == 0 and codes is None


def test_synthetic_batches_add_the_described_noise_to_the_clean_targets(tiny_config):
    objective = _objective(tiny_config(training={"mode": "synthetic", "noise": "gaussian:0.1"}))
    clean = torch.full((4, 1, 32, 32), 0.5)
    x, y, mask = objective.batch(clean, clean, torch.Generator().manual_seed(0))
    assert mask is None and torch.equal(y, clean)
    assert float((x - clean).std()) == pytest.approx(0.1, rel=0.05)
    assert objective.input_loss([(x, y, None)]) == pytest.approx(0.01, rel=0.1)  # the noisy input's


def test_recorrupted_pairs_beat_a_known_input_loss(tiny_config):
    objective = _objective(tiny_config(model=dict(PRIOR_NETWORK), training={"pretrained": True}))
    patches = torch.rand(2, 1, 32, 32)
    x, _, noise = objective.batch(patches, patches, torch.Generator().manual_seed(0))
    assert noise.shape == x.shape and float(noise.std()) == pytest.approx(1.0, rel=0.1)
    assert objective.input_loss([]) == (0.5 + 1 / 0.5) ** 2


def test_thinned_pairs_split_the_photons_of_the_calibration(tiny_config):
    found = Calibration(photons=NoiseModel(0.01, 0.0))  # 100 photons at intensity 1
    config = tiny_config(model=dict(PRIOR_NETWORK, noise_gain=0.01), training={"pretrained": True})
    objective = _objective(config, found)
    counts = torch.poisson(torch.full((2, 1, 32, 32), 50.0), torch.Generator().manual_seed(0)) / 100
    x, y, mask = objective.batch(counts, counts, torch.Generator().manual_seed(1))
    assert mask is None and not torch.equal(x, counts)
    assert torch.allclose(x * 0.7 + y * 0.3, counts, atol=1e-5)  # the two parts make the whole


def test_super_resolution_is_held_against_bicubic_upscaling(tiny_config):
    config = tiny_config(model={"architecture": "superres", "factor": 2}, training={"task": "superres", "mode": "from-highres"})
    objective = _objective(config)
    low = torch.rand(1, 1, 16, 16)
    high = torch.nn.functional.interpolate(low, scale_factor=2, mode="bicubic", align_corners=False)
    assert objective.input_loss([(low, high, None)]) == pytest.approx(0.0, abs=1e-12)
    assert objective.input_loss([(low, high + 0.1, None)]) == pytest.approx(0.01, rel=1e-4)
