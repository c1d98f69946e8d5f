"""The real-image denoising benchmark: its cases, baselines and quick run."""

import sys

import numpy as np
import pytest

import real_denoise
from napari_autoencoders.core.data.stabilization import NoiseModel, noise_model_of
from napari_autoencoders.core.prior import HELD_APART_PHOTOS, TRAINING_PHOTOS


def test_cases_are_real_images_held_apart_from_the_prior_training():
    cases = real_denoise.cases(64)
    photos = {case["name"] for case in cases if case["group"].startswith("photographs")}
    assert photos == set(HELD_APART_PHOTOS) and not photos & set(TRAINING_PHOTOS)
    assert len(cases) == len(HELD_APART_PHOTOS) * 3 + len(real_denoise.SCIENCE) * 3
    for case in cases:
        assert case["clean"].dtype == np.float32 and 0 <= case["clean"].min() < case["clean"].max() <= 1


def test_bm3d_after_the_anscombe_transform_beats_plain_bm3d_at_low_counts():
    case = next(c for c in real_denoise.cases(96, peaks=(10,)) if c["name"] == "cell")
    noisy = real_denoise.add_noise(case["clean"], case["spec"], seed=0)
    results = real_denoise.baselines(case, noisy)
    psnr = {name: real_denoise.scores(case["clean"], image)[0] for name, (image, _, _) in results.items()}
    assert psnr["BM3D + GAT"] > psnr["BM3D"] > psnr["noisy input"]


def test_synthetic_spec_is_the_noise_on_the_training_images_normalised_scale():
    images = np.linspace(0.1, 0.6, 64 * 64, dtype=np.float32).reshape(1, 64, 64)
    low, high = np.percentile(images, (1.0, 99.8))
    noise = NoiseModel(1 / 20, 0.02**2)
    spec = real_denoise.synthetic_spec(noise, images)
    assert spec.startswith("poisson:") and "+gaussian:" in spec
    scaled = noise_model_of(spec)
    raw = np.linspace(low, high, 11)
    normalised = (raw - low) / (high - low)
    assert np.allclose(noise.sigma(raw) / (high - low), scaled.sigma(normalised), rtol=1e-4)
    gaussian = real_denoise.synthetic_spec(NoiseModel(0.0, 0.1**2), images)
    assert np.isclose(float(gaussian.split(":")[1]), 0.1 / (high - low), rtol=1e-4)


def test_every_noise_level_trains_self_supervised_for_the_first_budget():
    trained = {"microscopy, Poisson-Gaussian peak 30"}
    for case in real_denoise.cases(64, photos=(), science=("cell",)):
        methods = [m for m in real_denoise.methods_for(case, (30.0, 120.0), trained, None, {})
                   if "self-supervised" in m]
        expected = ["30", "120"] if case["group"] in trained else ["30"]
        assert methods == [f"ours, self-supervised ({seconds} s)" for seconds in expected]


@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_gives_means_and_every_case():
    tables = real_denoise.run(quick=True)
    means, cases = tables[0]["rows"], tables[1]["rows"]
    methods = {row[1] for row in means}
    assert {"noisy input", "NL-means", "BM3D", "BM3D + GAT", "ours, prior (zero-shot)"} <= methods
    assert any(m.startswith("ours, self-supervised") for m in methods)
    assert any(m.startswith("Noise2Void") for m in methods)
    assert all(row[6] for row in cases if row[2].startswith(("ours, self", "Noise2Void")))
    sys.modules.pop("real_denoise", None)
