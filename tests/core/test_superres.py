"""The super-resolution task end to end: config, network, the three modes, tiling, gain."""

import numpy as np
import pytest
import torch

from napari_autoencoders.core.config import Config, ModelConfig, TrainingConfig
from napari_autoencoders.core.io.model_files import load_model, save_model
from napari_autoencoders.core.nn.models import build_model
from phantoms import fluorescence_phantom
from napari_autoencoders.core.inference.prediction import predict
from napari_autoencoders.core.data.resolution import downscale, upscale_interpolated
from napari_autoencoders.core.training import Trainer, fit


def superres_config(tiny_config, *, factor=2, mode="from-highres", **training):
    return tiny_config(
        model={"architecture": "superres", "factor": factor, "blocks": 1},
        data={"patch_size": 8},
        training={"task": "superres", "mode": mode, **training},
    )


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_untrained_network_is_bicubic_interpolation(factor):
    network = build_model(ModelConfig(architecture="superres", factor=factor, width=8, blocks=2))
    low = np.random.default_rng(0).random((2, 1, 9, 7)).astype(np.float32)
    with torch.no_grad():
        high = network(torch.from_numpy(low)).numpy()
    assert high.shape == (2, 1, 9 * factor, 7 * factor)
    np.testing.assert_allclose(high, upscale_interpolated(low, factor), atol=1e-6)


@pytest.mark.parametrize(
    ("model", "training", "message"),
    [
        ({"factor": 5}, {}, "model.factor must be one of"),
        ({"architecture": "unet", "factor": 1}, {}, "go together"),
        ({}, {"mode": "self-supervised"}, "choose one of"),
        ({}, {"downscale": "box"}, "gaussian:SIGMA"),
    ],
)
def test_bad_superres_configs_are_rejected(model, training, message):
    config = Config(
        model=ModelConfig(**{"architecture": "superres", "factor": 2, **model}),
        training=TrainingConfig(**{"task": "superres", "mode": "from-highres", **training}),
    )
    with pytest.raises(ValueError, match=message):
        config.validate()


def test_factor_is_only_for_the_superres_network():
    with pytest.raises(ValueError, match="only the 'superres' architecture upscales"):
        ModelConfig(factor=2).validate()


@pytest.mark.parametrize("mode", ["from-highres", "paired", "zero-shot"])
@pytest.mark.parametrize(("axes", "shape"), [("YX", (48, 48)), ("SYX", (2, 48, 48)), ("YXC", (48, 48, 2))])
def test_the_three_modes_train_and_upscale(tiny_config, blobs, mode, axes, shape):
    factor = 3
    image = blobs(shape)
    if "C" in axes:
        image = np.moveaxis(blobs((shape[-1],) + shape[:-1]), 0, -1)
    config = superres_config(tiny_config, factor=factor, mode=mode)
    config.data.axes = axes
    if mode == "paired":
        low = shrink(image, axes, factor)
        model = fit(config, low, image)
    else:
        model = fit(config, image)
        low = shrink(image, axes, factor) if mode == "zero-shot" else image
    assert model.config.model.factor == factor
    out = predict(model, low)
    expected = list(low.shape)
    for axis in (axes.index("Y"), axes.index("X")):
        expected[axis] *= factor
    assert out.shape == tuple(expected)
    assert np.isfinite(out).all()


def test_paired_targets_keep_the_inputs_scale(tiny_config):
    high = np.full((96, 96), 100.0, np.float32)
    rng = np.random.default_rng(0)
    high[rng.integers(0, 96, 60), rng.integers(0, 96, 60)] = 1000.0  # sharp: wider percentiles
    low = downscale(high, 2)
    config = superres_config(tiny_config, factor=2, mode="paired")
    model = fit(config, low, high)  # the target's own percentiles stretched bicubic's contrast
    np.testing.assert_allclose(model.target_norm.low, model.input_norm.low, rtol=1e-3)
    np.testing.assert_allclose(model.target_norm.high, model.input_norm.high, rtol=1e-3)


def shrink(image, axes, factor):
    """Downscale ``image`` in Y and X, whatever its axes."""
    if "C" not in axes:
        return downscale(image, factor)
    return np.moveaxis(downscale(np.moveaxis(image, -1, 0), factor), 0, -1)


def test_a_superres_model_file_round_trip(tiny_config, blobs, tmp_path):
    model = fit(superres_config(tiny_config, factor=4, downscale="gaussian:1.5"), blobs((64, 64)))
    loaded = load_model(save_model(model, tmp_path / "sr.safetensors"))
    assert loaded.config == model.config
    low = blobs((10, 12), seed=3)
    np.testing.assert_array_equal(predict(loaded, low), predict(model, low))


def test_paired_shapes_must_be_factor_apart(tiny_config, blobs):
    config = superres_config(tiny_config, mode="paired")
    with pytest.raises(ValueError, match="not 2 times"):
        Trainer(config, blobs((24, 24)), blobs((50, 48)))


def test_image_too_small_after_downscaling(tiny_config, blobs):
    with pytest.raises(ValueError, match="smaller than the 8x8 training patch"):
        Trainer(superres_config(tiny_config, factor=4), blobs((30, 40)))


@pytest.fixture(scope="module")
def upscaler(tiny_config, blobs):
    """A x2 model with a little training, so its output is not plain bicubic."""
    return fit(superres_config(tiny_config), blobs((48, 48)))


def test_tiled_equals_untiled_where_it_fits(upscaler, blobs):
    image = blobs((40, 44), seed=5)
    whole = predict(upscaler, image, tile=64, overlap=8)
    tiled = predict(upscaler, image, tile=44, overlap=4)
    np.testing.assert_array_equal(whole, tiled)


def test_small_tiles_stitch_without_seams(upscaler, blobs):
    image = blobs((60, 52), seed=6)
    whole = predict(upscaler, image, tile=128)
    tiled = predict(upscaler, image, tile=24, overlap=12, batch_size=3)
    assert tiled.shape == whole.shape == (120, 104)
    # the receptive field is 4 + 2 * blocks convolutions: overlapping tiles agree
    np.testing.assert_allclose(tiled, whole, atol=0.02 * np.ptp(whole))


def test_training_beats_bicubic_on_held_out_phantoms(tiny_config):
    truth = fluorescence_phantom((96, 96), seed=10)
    train = np.stack([fluorescence_phantom((96, 96), seed=s) for s in (11, 12)])
    config = superres_config(
        tiny_config,
        factor=2,
        epochs=4,
        steps_per_epoch=25,
        learning_rate=2e-3,
        seed=0,
    )
    config.model.width, config.data.axes = 16, "SYX"
    config.data.patch_size, config.data.batch_size = 16, 8
    model = fit(config, train)
    low = downscale(truth, 2)
    error = np.mean((predict(model, low, axes="YX") - truth) ** 2)
    bicubic = np.mean((upscale_interpolated(low, 2) - truth) ** 2)
    assert 10 * np.log10(bicubic / error) > 0.5  # dB


def test_an_upscaler_keeps_bicubic_until_an_epoch_beats_it(tiny_config, blobs):
    from napari_autoencoders.core.data.resolution import upscale_interpolated

    config = tiny_config(
        model={"architecture": "superres", "factor": 2},
        data={"patch_size": 8},
        training={"task": "superres", "mode": "zero-shot"},
    )
    image = blobs((48, 48))
    trainer = Trainer(config, image)
    trainer.prepare()
    assert trainer.best_loss == trainer.input_loss  # the untrained network, bicubic, is the best
    bicubic = upscale_interpolated(image, 2)
    np.testing.assert_allclose(predict(trainer.result(), image, tile=48), bicubic, atol=1e-4)
    for _ in trainer.run():
        pass
    assert trainer.best_loss <= trainer.input_loss  # kept weights never lose to bicubic


def test_a_pretrained_upscaler_worse_than_bicubic_is_not_kept(tiny_config, blobs, tmp_path, monkeypatch):
    from napari_autoencoders.core import prior

    config = tiny_config(
        model={"architecture": "superres", "factor": 2, "width": 32, "blocks": 4, "channelwise": True},
        data={"patch_size": 8},
        training={"task": "superres", "mode": "zero-shot", "pretrained": True, "learning_rate": 1e-12},
    )
    bad = build_model(config.model)
    torch.nn.init.normal_(bad.tail.weight, std=1.0)  # a prior that adds noise
    path = prior.save_prior(bad, tmp_path / "bad.safetensors", steps=0)
    monkeypatch.setattr(prior, "weights_file", lambda config: path)
    image = blobs((48, 48))
    trainer = Trainer(config, image)
    assert [event.step for event in trainer.run()] == [0]  # a 24-pixel copy: chosen, not trained
    assert trainer.best_loss == trainer.input_loss
    np.testing.assert_allclose(
        predict(trainer.result(), image, tile=48), upscale_interpolated(image, 2), atol=1e-4
    )


def test_zero_shot_on_a_small_copy_keeps_the_shipped_upscaler_where_it_beats_bicubic(tiny_config):
    from skimage import data

    image = downscale(data.camera()[::2, ::2].astype(np.float32) / 255, 4)  # 64 x 64, copy of 16
    config = tiny_config(
        model={"architecture": "superres", "factor": 4, "width": 32, "blocks": 4, "channelwise": True},
        data={"patch_size": 8},
        training={"task": "superres", "mode": "zero-shot", "pretrained": True},
    )
    trainer = Trainer(config, image)
    assert [event.step for event in trainer.run()] == [0]
    assert [entry["step"] for entry in trainer.history] == [0]
    assert trainer.best_loss < trainer.input_loss  # the upscaler rebuilt the copy better
    np.testing.assert_allclose(trainer.input_norm.low, np.percentile(image, 1.0), rtol=1e-5)
    upscaled = predict(trainer.result(), image)
    assert upscaled.shape == (256, 256)
    assert not np.allclose(upscaled, upscale_interpolated(image, 4), atol=1e-3)
