"""Tests for the training generator, its stopping rules and its input checks."""

import dataclasses
import time
import warnings

import numpy as np
import pytest
import torch

from napari_autoencoders.core.latent.encoding import iter_encode_frames
from napari_autoencoders.core.data.collection import ImageCollection
from napari_autoencoders.core.data.noise import add_noise
from napari_autoencoders.core.data.neighbours import EXAGGERATION
from phantoms import fluorescence_phantom
from napari_autoencoders.core.inference.prediction import predict
from napari_autoencoders.core.progress import run as run_steps
from napari_autoencoders.core.recipes import task_config
from napari_autoencoders.core.training import Trainer, TrainingEvent, fit


@pytest.fixture
def clean(blobs):
    return blobs((48, 48))


@pytest.fixture
def noisy(clean):
    return add_noise(clean, "gaussian:0.1", seed=0)


def same_weights(first, second):
    """True if two networks hold identical tensors."""
    return same_state(first.state_dict(), second.state_dict())


def same_state(first, second):
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def prediction_error(model, image, expected):
    """Mean squared error of the model's prediction for ``image``."""
    return float(np.mean((predict(model, image, device="cpu") - expected) ** 2))


@pytest.mark.parametrize("mode", ["self-supervised", "synthetic", "paired"])
def test_training_improves_the_model(tiny_config, clean, noisy, mode):
    config = tiny_config(
        data={"batch_size": 4},
        training={"mode": mode, "epochs": 4, "steps_per_epoch": 8, "learning_rate": 1e-2},
    )
    data = {"self-supervised": (noisy, None), "synthetic": (clean, None), "paired": (noisy, clean)}
    inputs, targets = data[mode]
    trainer = Trainer(config, inputs, targets)
    untrained = trainer.result()
    for _ in trainer.run():
        pass
    trained = trainer.result()
    error = prediction_error(trained, noisy, clean)
    assert error < 0.5 * prediction_error(untrained, noisy, clean)


def test_paired_targets_are_put_on_the_noisy_inputs_scale(tiny_config, clean, noisy):
    config = tiny_config(training={"mode": "paired", "epochs": 1, "steps_per_epoch": 1})
    trainer = Trainer(config, noisy, 1000.0 * clean + 50.0)  # the clean image in other units
    targets = trainer.target_norm.normalize((1000.0 * clean + 50.0)[None, None])
    # the clean image where the noisy one is, though percentiles of each would differ
    assert np.abs(targets - trainer.input_norm.normalize(clean[None, None])).max() < 0.05


def test_an_unrelated_paired_target_warns_and_keeps_its_own_scale(tiny_config, clean, noisy):
    config = tiny_config(training={"mode": "paired", "epochs": 1, "steps_per_epoch": 1})
    with pytest.warns(UserWarning, match="do not rise with the noisy input"):
        trainer = Trainer(config, noisy, 1.0 - clean)
    low, high = np.percentile(1.0 - clean, (1.0, 99.8))
    assert trainer.target_norm.low[0] == pytest.approx(low) and trainer.target_norm.high[0] == pytest.approx(high)


def test_reconstruct_trains_the_autoencoder(tiny_config):
    yy, xx = np.mgrid[:20, :20]
    discs = [(yy - cy) ** 2 + (xx - cx) ** 2 < 16 for cy in (6, 13) for cx in (6, 13)]
    frames = np.stack(discs).astype(np.float32)
    config = tiny_config(
        model={"architecture": "autoencoder", "input_size": 20, "latent_dim": 2},
        data={"axes": "SYX", "patch_size": 20, "batch_size": 4, "validation_fraction": 0},
        training={
            "task": "reconstruct",
            "epochs": 4,
            "steps_per_epoch": 10,
            "learning_rate": 1e-2,
        },
    )
    trainer = Trainer(config, frames)
    untrained = trainer.result()
    for _ in trainer.run():
        pass
    trained = trainer.result()
    error = prediction_error(trained, frames, frames)
    assert error < 0.7 * prediction_error(untrained, frames, frames)


def test_same_seed_gives_identical_weights(tiny_config, noisy):
    config = tiny_config()
    first, second = fit(config, noisy), fit(config, noisy)
    assert same_weights(first.network, second.network)
    assert [e["val_loss"] for e in first.history] == [e["val_loss"] for e in second.history]
    config.training.seed = 1
    assert not same_weights(first.network, fit(config, noisy).network)


def test_events_and_history(tiny_config, noisy):
    config = tiny_config(training={"epochs": 3, "steps_per_epoch": 4})
    trainer = Trainer(config, noisy)
    events = list(trainer.run())
    assert all(isinstance(event, TrainingEvent) for event in events)
    steps = [e for e in events if e.val_loss is None]
    epochs = [e for e in events if e.val_loss is not None]
    assert [e.step for e in steps] == list(range(1, 13))
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert [e.step for e in epochs] == [4, 8, 12]
    # the epoch event carries the mean of its steps' losses
    assert epochs[0].loss == pytest.approx(np.mean([e.loss for e in steps[:4]]))
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # the share done when each step ended, which the time left is estimated from
    assert [e.fraction for e in steps] == pytest.approx([s / 12 for s in range(1, 13)])
    elapsed = [e.elapsed for e in events]
    assert elapsed == sorted(elapsed)
    model = trainer.result()
    assert len(model.history) == 3
    assert [entry["val_loss"] for entry in model.history] == [e.val_loss for e in epochs]
    keys = {"epoch", "step", "loss", "val_loss", "elapsed", "learning_rate"}
    assert set(model.history[0]) == keys
    # the cosine schedule decays the learning rate
    assert epochs[-1].learning_rate < epochs[0].learning_rate < config.training.learning_rate


def test_result_is_on_the_cpu_in_evaluation_mode(tiny_config, noisy):
    model = fit(tiny_config(), noisy)
    assert not model.network.training
    assert all(p.device.type == "cpu" for p in model.network.parameters())


def test_stop_from_callback_returns_the_best_model(tiny_config, noisy):
    config = tiny_config(training={"epochs": 10, "steps_per_epoch": 3})
    trainer = Trainer(config, noisy)
    for event in trainer.run():
        if event.step == 7:
            trainer.stop()
    # two full epochs, then the stopped third one is still validated
    assert [entry["step"] for entry in trainer.history] == [3, 6, 7]
    model = trainer.result()
    assert same_state(model.network.state_dict(), trainer.best_state)
    assert trainer.best_loss == min(entry["val_loss"] for entry in model.history)


def test_fit_callback_returning_false_stops(tiny_config, noisy):
    seen = []
    model = fit(
        tiny_config(training={"epochs": 10, "steps_per_epoch": 3}),
        noisy,
        callback=lambda event: seen.append(event) or event.step < 2,
    )
    assert max(e.step for e in seen) == 2
    assert len(model.history) == 1


def test_stop_before_run_trains_nothing(tiny_config, noisy):
    trainer = Trainer(tiny_config(), noisy)
    untrained = trainer.result()
    trainer.stop()
    assert list(trainer.run()) == []
    assert trainer.result().history == []
    assert same_weights(trainer.result().network, untrained.network)


def test_time_budget_stops_by_itself(tiny_config, noisy):
    config = tiny_config(training={"epochs": 10_000, "steps_per_epoch": 5, "time_budget": 0.5})
    start = time.perf_counter()
    events = list(Trainer(config, noisy).run())
    assert 0.5 <= time.perf_counter() - start < 30
    assert events[-1].val_loss is not None
    assert events[-1].step < 10_000 * 5
    # the learning rate follows the elapsed time, not the planned steps
    assert events[-1].learning_rate < config.training.learning_rate


def test_early_stopping_after_patience_epochs_without_progress(tiny_config, noisy):
    # a learning rate too small to change any float32 weight: the validation
    # loss stays exactly the same, so it never improves after the first epoch
    config = tiny_config(training={"epochs": 50, "patience": 2, "learning_rate": 1e-30})
    model = fit(config, noisy)
    losses = [entry["val_loss"] for entry in model.history]
    assert len(losses) == 3
    assert len(set(losses)) == 1


@pytest.mark.parametrize(
    ("mode", "make_inputs", "message"),
    [
        ("paired", lambda image: (image, None), "needs a clean target"),
        ("self-supervised", lambda image: (image, image), "only used .*paired mode"),
        ("synthetic", lambda image: (image, image), "only used .*paired mode"),
        ("paired", lambda image: (image, image[:40]), "differ in shape"),
        ("self-supervised", lambda image: (np.where(image > 0.5, np.nan, image), None), "NaN"),
        ("paired", lambda image: (image, np.where(image > 0.5, np.inf, image)), "target image"),
        ("self-supervised", lambda image: (np.full_like(image, 3.0), None), "constant"),
        ("self-supervised", lambda image: (image[:12], None), "smaller than the 16x16"),
        ("self-supervised", lambda image: (image[np.newaxis], None), "dimensions"),
        ("self-supervised", lambda image: (image.astype(complex), None), "complex"),
    ],
    ids=[
        "paired without target",
        "target in self-supervised",
        "target in synthetic",
        "shapes differ",
        "nan input",
        "inf target",
        "constant image",
        "smaller than patch",
        "wrong axes",
        "complex input",
    ],
)
def test_bad_data_raises(tiny_config, noisy, mode, make_inputs, message):
    inputs, targets = make_inputs(noisy)
    with pytest.raises(ValueError, match=message):
        Trainer(tiny_config(training={"mode": mode}), inputs, targets)


def test_bad_config_raises(tiny_config, noisy):
    with pytest.raises(ValueError, match="training.epochs"):
        Trainer(tiny_config(training={"epochs": 0}), noisy)


def test_multichannel_input(tiny_config, blobs):
    image = np.stack([blobs((40, 40), seed=0), 100 * blobs((40, 40), seed=1)], axis=-1)
    config = tiny_config(data={"axes": "YXC"})
    model = fit(config, image)
    assert (model.config.model.in_channels, model.config.model.out_channels) == (2, 2)
    assert len(model.input_norm.low) == 2
    assert config.model.in_channels == 1  # the caller's config is left alone
    result = predict(model, image, device="cpu")
    assert result.shape == image.shape
    # each channel comes back in its own units
    assert result[..., 1].mean() > 10 * result[..., 0].mean()


def test_stack_input_validates_on_whole_planes(tiny_config, blobs):
    stack = blobs((4, 24, 24))
    model = fit(tiny_config(data={"axes": "SYX", "validation_fraction": 0.25}), stack)
    assert len(model.history) == 2


def test_uint16_input(tiny_config, clean):
    image = (1000 + 20000 * add_noise(clean, "gaussian:0.05", seed=0).clip(0, 1)).astype(np.uint16)
    model = fit(tiny_config(), image)
    assert np.isfinite([entry["val_loss"] for entry in model.history]).all()
    result = predict(model, image, device="cpu")
    assert result.dtype == np.float32 and result.shape == image.shape
    assert np.isfinite(result).all()


def psnr(clean, image):
    """Peak signal-to-noise ratio (dB) of ``image`` against ``clean`` in [0, 1]."""
    return 10 * np.log10(1.0 / np.mean((image - clean) ** 2))


@pytest.mark.slow
def test_self_supervised_training_denoises_a_phantom(tiny_config):
    """Integration: blind-spot training on the noisy image alone removes noise.

    About 2 s on two idle cores; measured gains 8 to 13 dB over seeds.
    """
    clean = fluorescence_phantom((128, 128), seed=0)
    noisy = add_noise(clean, "gaussian:0.2", seed=0)
    config = tiny_config(
        data={"patch_size": 32, "batch_size": 8},
        training={
            "epochs": 8,
            "steps_per_epoch": 25,
            "learning_rate": 3e-3,
            "mask_fraction": 0.05,
        },
    )
    denoised = predict(fit(config, noisy), noisy, device="cpu")
    assert psnr(clean, denoised) > psnr(clean, noisy) + 2.0


def test_the_optimiser_is_made_by_run_in_the_training_thread(tiny_config, noisy):
    # a process's first optimiser imports torch._dynamo, which must not block a GUI thread
    config = tiny_config()
    trainer = Trainer(config, noisy)
    assert trainer.optimizer is None
    for _ in trainer.run():
        pass
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    assert trainer.optimizer.param_groups[0]["weight_decay"] == config.training.weight_decay
def test_vae_training_lowers_the_negative_elbo(tiny_vae_config, frames):
    config = tiny_vae_config(training={"epochs": 1, "steps_per_epoch": 40, "learning_rate": 3e-3})
    trainer = Trainer(config, frames)
    trainer.prepare()
    untrained = trainer._validate()
    for _ in trainer.run():
        pass
    model = trainer.result()
    assert model.history[-1]["val_loss"] < 0.9 * untrained
    assert predict(model, frames).shape == frames.shape  # applies like any model


def test_vae_validation_loss_is_deterministic(tiny_vae_config, frames):
    trainer = Trainer(tiny_vae_config(), frames)
    trainer.prepare()
    assert trainer._validate() == trainer._validate()


def test_kl_warmup_starts_without_kl(tiny_vae_config, frames, monkeypatch):
    from napari_autoencoders.core import objectives, training

    weights = []
    original = objectives.negative_elbo

    def spy(*args, beta, **kwargs):
        weights.append(beta)
        return original(*args, beta=beta, **kwargs)

    monkeypatch.setattr(objectives, "negative_elbo", spy)
    warm_up = {"beta": 2.0, "kl_warmup": 4, "epochs": 1, "steps_per_epoch": 6}
    config = tiny_vae_config(training=warm_up)
    fit(config, frames)
    # six training steps warming up over four, then four validation batches at full beta
    assert weights == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0] + [2.0] * training.VALIDATION_BATCHES


def test_construction_only_checks_and_run_does_the_heavy_set_up(tiny_config, noisy):
    # a widget builds the Trainer in napari's event loop to report bad input at once;
    # normalising, building the network and drawing batches wait for the worker thread
    trainer = Trainer(tiny_config(), noisy)
    assert not hasattr(trainer, "network") and not hasattr(trainer, "sampler")
    next(trainer.run())
    assert isinstance(trainer.network, torch.nn.Module)


def test_result_before_training_is_the_untrained_network(tiny_config, noisy):
    model = Trainer(tiny_config(), noisy).result()
    assert model.history == [] and not model.network.training


def test_optimizer_support_can_be_imported_ahead_of_training():
    import sys

    from napari_autoencoders.core.training import import_optimizer_support

    import_optimizer_support()
    assert "torch._dynamo" in sys.modules


def neighbour_frames():
    """Frames (40, 16, 16): 20 disks at the top left, then 20 at the bottom right."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:16, :16]
    centres = np.concatenate([rng.uniform(4, 6, (20, 2)), rng.uniform(10, 12, (20, 2))])
    inside = (y - centres[:, :1, None]) ** 2 + (x - centres[:, 1:, None]) ** 2 < 9
    return inside.astype(np.float32)


def neighbour_config(tiny_config, **training):
    return tiny_config(
        model={"architecture": "autoencoder", "input_size": 16, "latent_dim": 2},
        data={"axes": "SYX", "batch_size": 16, "augment": False},
        training={"task": "reconstruct", "neighbour_weight": 1.0, "neighbours": 4, **training},
    )


@pytest.mark.slow
def test_neighbour_term_keeps_the_groups_apart_in_the_latent(tiny_config):
    frames = neighbour_frames()
    config = neighbour_config(tiny_config, epochs=3, steps_per_epoch=40, learning_rate=1e-2)
    codes = run_steps(iter_encode_frames(fit(config, frames), frames)).latents
    within = np.mean([np.linalg.norm(codes[:20, None] - codes[None, :20], axis=2).mean(),
                      np.linalg.norm(codes[20:, None] - codes[None, 20:], axis=2).mean()])
    across = np.linalg.norm(codes[:20, None] - codes[None, 20:], axis=2).mean()
    assert across > 2 * within


def test_neighbour_batches_are_pairs_and_the_loss_adds_the_weighted_term(tiny_config, monkeypatch):
    from napari_autoencoders.core import training

    calls = []
    original = training.neighbour_loss

    def spy(heads, tails, *, exaggeration):
        calls.append((heads.shape, tails.shape, exaggeration))
        return original(heads, tails, exaggeration=exaggeration)

    monkeypatch.setattr(training, "neighbour_loss", spy)
    losses = []
    for weight in (1.0, 2.0, 3.0):  # same seed: same network, same validation pairs
        trainer = Trainer(neighbour_config(tiny_config, neighbour_weight=weight), neighbour_frames())
        trainer.prepare()
        losses.append(trainer._validate())
    assert trainer._validate() == losses[-1]  # the same pairs at every validation
    term = losses[1] - losses[0]
    assert term > 0 and losses[2] - losses[1] == pytest.approx(term, rel=1e-4)
    assert calls and all(call == ((8, 2), (8, 2), 1.0) for call in calls)  # validation: plain


def test_neighbour_term_is_exaggerated_early_in_the_training_only(tiny_config, monkeypatch):
    from napari_autoencoders.core import training

    used = []
    original = training.neighbour_loss

    def spy(heads, tails, *, exaggeration):
        used.append(exaggeration)
        return original(heads, tails, exaggeration=exaggeration)

    monkeypatch.setattr(training, "neighbour_loss", spy)
    config = neighbour_config(tiny_config, epochs=1, steps_per_epoch=4)
    for _ in Trainer(config, neighbour_frames()).run():
        pass
    # steps at 0, 25, 50 and 75 % of the training, then the plain validation batches
    assert used == [EXAGGERATION] * 2 + [1.0] * 2 + [1.0] * training.VALIDATION_BATCHES


def record(trainer, val_loss):
    """Record an epoch of validation loss ``val_loss`` after 5 stale ones; return the stale count."""
    event = TrainingEvent(step=1, epoch=1, loss=1.0, elapsed=0.0, learning_rate=0.1,
                          fraction=0.0, val_loss=val_loss)
    return trainer._record(event, stale=5)


def test_the_neighbour_term_keeps_the_last_weights_and_never_stops_early(tiny_config):
    trainer = Trainer(neighbour_config(tiny_config), neighbour_frames())
    trainer.prepare()
    assert record(trainer, 1.0) == 0 and trainer.best_loss == 1.0
    with torch.no_grad():
        next(trainer.network.parameters()).add_(1.0)
    assert record(trainer, 2.0) == 0 and trainer.best_loss == 2.0  # worse, kept all the same
    kept, now = trainer.best_state, trainer.network.state_dict()
    assert all(torch.equal(kept[name], now[name]) for name in now)


def test_without_the_neighbour_term_only_better_weights_are_kept(tiny_config):
    trainer = Trainer(neighbour_config(tiny_config, neighbour_weight=0.0), neighbour_frames())
    trainer.prepare()
    trainer.best_loss = 1.5  # the untrained network's
    assert record(trainer, 1.0) == 0 and trainer.best_loss == 1.0
    assert record(trainer, 2.0) == 6 and trainer.best_loss == 1.0


def test_vae_takes_the_neighbour_term_on_its_latent_mean(tiny_vae_config):
    frames = neighbour_frames()
    config = tiny_vae_config(
        data={"batch_size": 8}, training={"neighbour_weight": 0.5, "neighbours": 3}
    )
    trainer = Trainer(config, frames)
    for _ in trainer.run():
        pass
    assert np.isfinite(trainer.history[-1]["val_loss"])


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((40, 20, 20), np.float32), "frames must be the size of the patch"),
        (np.zeros((4, 16, 16), np.float32), "got 4 frame\\(s\\) and 4 neighbours"),
    ],
)
def test_neighbour_term_rejects_unusable_frames(tiny_config, frames, message):
    with pytest.raises(ValueError, match=message):
        Trainer(neighbour_config(tiny_config), frames)


def aae_config(tiny_config, **training):
    return tiny_config(
        model={"architecture": "aae", "input_size": 16, "latent_dim": 2},
        data={"axes": "SYX", "augment": False, "percentiles": (0.0, 100.0)},
        training={"task": "aae", **training},
    )


def test_aae_training_runs_the_three_phases(tiny_config, frames):
    trainer = Trainer(aae_config(tiny_config), frames)
    trainer.prepare()
    regularizer = trainer.regularizer
    assert regularizer.network is trainer.network
    discriminator = [p.detach().clone() for p in regularizer.discriminator.parameters()]
    for _ in trainer.run():
        pass
    changed = [not torch.equal(a, b) for a, b in zip(discriminator, regularizer.discriminator.parameters())]
    assert all(changed)  # the discriminator trained beside the autoencoder
    rate = trainer.config.training.adversarial_rate
    learning_rate = trainer.optimizer.param_groups[0]["lr"]
    assert regularizer.encoder_optimizer.param_groups[0]["lr"] == pytest.approx(rate * learning_rate)
    assert len(trainer.result().history) == 2


def test_only_the_aae_has_a_regularizer(tiny_vae_config, frames):
    trainer = Trainer(tiny_vae_config(), frames)
    trainer.prepare()
    assert trainer.regularizer is None


def test_aae_validation_loss_is_the_reconstruction_loss(tiny_config, frames):
    from napari_autoencoders.core.nn.losses import reconstruction_loss

    trainer = Trainer(aae_config(tiny_config), frames)
    for _ in trainer.run():
        pass
    network = trainer.network.eval()
    with torch.no_grad():
        expected = [
            reconstruction_loss(network.decode_logits(network.encode(x)), y, "bce").mean().item()
            for x, y, _ in trainer.validation
        ]
    assert trainer._validate() == pytest.approx(np.mean(expected))


def test_aae_training_is_seeded(tiny_config, frames):
    first, second = (fit(aae_config(tiny_config), frames) for _ in range(2))
    for a, b in zip(first.network.parameters(), second.network.parameters()):
        torch.testing.assert_close(a, b)


def test_a_result_no_better_than_its_input_is_named(tiny_config, blobs):
    image = blobs((48, 48))
    config = tiny_config(training={"mode": "synthetic", "noise": "gaussian:0.05"})
    trainer = Trainer(config, image)
    trainer.prepare()
    assert trainer.input_loss > 0  # the noise's own error
    assert trainer.warning() is None  # nothing validated yet
    trainer.best_loss = trainer.input_loss * 2  # as a network worse than its input
    assert "not below that of the input" in trainer.warning()
    trainer.best_loss = trainer.input_loss / 2
    assert trainer.warning() is None


@pytest.mark.parametrize("mode", ["from-highres", "zero-shot"])
def test_an_upscaler_no_epoch_beat_is_named_as_bicubic(tiny_config, blobs, mode):
    config = tiny_config(
        model={"architecture": "superres", "factor": 2},
        data={"patch_size": 8},
        training={"task": "superres", "mode": mode},
    )
    trainer = Trainer(config, blobs((96, 96)))
    trainer.prepare()  # not pretrained: bicubic is the result to beat
    assert (trainer.best_epoch, trainer.kept()) == (None, "bicubic upscaling")
    assert trainer.outcome() == (
        f"kept bicubic upscaling (validation loss {trainer.input_loss:.4g}), which no epoch beat"
    )
    warning = trainer.warning()
    assert "no epoch validated better than bicubic upscaling" in warning
    assert "upscales by bicubic interpolation" in warning
    # longer zero-shot training does not help: it learns from a copy of the image
    assert ("train longer" in warning) == (mode == "from-highres")
    assert ("a larger image" in warning) == (mode == "zero-shot")


def test_a_zero_shot_choice_without_a_step_is_not_held_against_an_epoch():
    # a 100x100 image is too small to train zero-shot x2 on: bicubic or the prior is chosen
    noise = np.random.default_rng(0).random((100, 100), dtype=np.float32)
    trainer = Trainer(task_config("superres", shape=noise.shape, mode="zero-shot", factor=2), noise)
    for _ in trainer.run():
        pass
    assert trainer.history[-1]["step"] == 0 and trainer.best_epoch is None
    assert trainer.kept() == "bicubic upscaling"
    assert "against" not in trainer.warning()  # its one record is the start itself


def test_the_kept_weights_are_named_by_their_epoch(tiny_config, blobs):
    trainer = Trainer(tiny_config(training={"epochs": 3, "steps_per_epoch": 2}), blobs())
    for _ in trainer.run():
        pass
    best = min(trainer.history, key=lambda entry: entry["val_loss"])
    assert trainer.kept() == f"epoch {best['epoch']}" == f"epoch {trainer.best_epoch}"
    assert trainer.best_loss == best["val_loss"]
    loss = f"{best['val_loss']:.4g}"
    assert trainer.outcome() == f"kept epoch {best['epoch']} (validation loss {loss})"


def test_super_resolution_is_held_against_bicubic_and_latents_against_nothing(
    tiny_config, tiny_vae_config, blobs, frames
):
    config = tiny_config(
        model={"architecture": "superres", "factor": 2},
        data={"patch_size": 8},
        training={"task": "superres", "mode": "from-highres"},
    )
    trainer = Trainer(config, blobs((48, 48)))
    trainer.prepare()
    trainer.best_loss = trainer.input_loss * 2
    assert "bicubic upscaling" in trainer.warning()
    vae = Trainer(tiny_vae_config(), frames)
    vae.prepare()
    assert vae.input_loss is None and vae.warning() is None


def _pretrained_config(tiny_config, mode):
    from napari_autoencoders.core.config import PRIOR_NETWORK

    return tiny_config(
        model=dict(PRIOR_NETWORK),
        data={"batch_size": 2, "patch_size": 32},
        training={"mode": mode, "pretrained": True, "learning_rate": 2e-4},
    )


@pytest.mark.parametrize("mode", ["self-supervised", "synthetic", "paired"])
def test_pretrained_start_is_never_lost(tiny_config, clean, noisy, mode):
    config = _pretrained_config(tiny_config, mode)
    data = {"self-supervised": (noisy, None), "synthetic": (clean, None), "paired": (noisy, clean)}
    trainer = Trainer(config, *data[mode])
    trainer.prepare()
    prior_loss, prior_state = trainer.best_loss, trainer.best_state
    assert trainer.config.model.noise_variance > 0  # estimated, or the synthetic noise's
    for _ in trainer.run():
        pass
    assert trainer.best_loss <= prior_loss
    if trainer.best_loss == prior_loss:
        assert same_state(trainer.best_state, prior_state)
    model = trainer.result()
    assert prediction_error(model, noisy, clean) < 0.5 * float(np.mean((noisy - clean) ** 2))


@pytest.mark.parametrize("mode", ["self-supervised", "synthetic", "paired"])
def test_only_self_supervised_fine_tuning_keeps_the_prior_as_anchor(tiny_config, clean, noisy, mode):
    data = {"self-supervised": (noisy, None), "synthetic": (clean, None), "paired": (noisy, clean)}
    trainer = Trainer(_pretrained_config(tiny_config, mode), *data[mode])
    trainer.prepare()
    if mode != "self-supervised":  # their targets are not the image's own noise
        assert trainer.anchor is None
        return
    assert same_state(dict(enumerate(trainer.anchor)), dict(enumerate(trainer.network.parameters())))


def test_pretrained_self_supervised_uses_recorrupted_pairs_on_gaussian_noise(tiny_config, blobs):
    from napari_autoencoders.core.fine_tuning import RECORRUPTION

    noisy = add_noise(blobs((96, 96)), "gaussian:0.1", seed=0)  # large enough to find no gain
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), noisy)
    trainer.prepare()
    x, y, noise = trainer.validation[0]
    assert torch.equal(x, y)  # no masking: the input is whole
    assert noise.shape == x.shape and abs(float(noise.std()) - 1) < 0.2
    assert trainer.input_loss == pytest.approx((RECORRUPTION + 1 / RECORRUPTION) ** 2)


def test_synthetic_pretrained_takes_the_noise_description(tiny_config, clean):
    config = _pretrained_config(tiny_config, "synthetic")
    config.training.noise = "poisson:25+gaussian:0.05"
    trainer = Trainer(config, clean)
    trainer.prepare()
    assert trainer.config.model.noise_gain == pytest.approx(0.04)
    assert trainer.config.model.noise_variance == pytest.approx(0.0025)


def test_a_stop_while_preparing_cancels_the_training(tiny_config, blobs, monkeypatch):
    import napari_autoencoders.core.training as training

    stack = np.stack([add_noise(blobs((64, 64), seed=i), "poisson:30", seed=i) for i in range(3)])
    config = _pretrained_config(tiny_config, "self-supervised")
    config.data.axes = "SYX"
    trainer = Trainer(config, stack)
    measured = []

    def calibrate(*args, **kwargs):  # Stop pressed while the noise is measured
        trainer.stop()
        measured.append(True)
        return original(*args, **kwargs)

    original = training.calibrate
    monkeypatch.setattr(training, "calibrate", calibrate)

    assert list(trainer.run()) == []
    assert measured and trainer.cancelled and trainer.history == []
    assert trainer.config.model.noise_variance == 0  # the noise's measure never finished
    with pytest.raises(RuntimeError, match="cancelled while it prepared"):
        trainer.result()
    assert trainer.outcome() == "cancelled while it prepared: no model"


def test_a_stop_after_preparing_keeps_the_start(tiny_config, blobs):
    noisy = add_noise(blobs((96, 96)), "gaussian:0.1", seed=0)  # large enough to train on
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), noisy)
    trainer.prepare()
    trainer.stop()
    assert list(trainer.run()) == [] and not trainer.cancelled
    assert trainer.kept() == "the shipped prior" and trainer.result().history == []


def test_pretrained_refuses_an_image_without_noise(tiny_config, clean):
    flat = np.zeros((48, 48), np.float32)
    flat[:, 24:] = 1.0
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), flat)
    with pytest.raises(ValueError, match="no noise could be measured"):
        trainer.prepare()


@pytest.mark.parametrize("mode", ["self-supervised", "synthetic", "paired"])
def test_3d_training_improves_the_model(tiny_config, blobs, mode):
    clean = blobs((8, 24, 24))
    noisy = add_noise(clean, "gaussian:0.1", seed=0)
    config = tiny_config(
        model={"spatial_dims": 3},
        data={"axes": "ZYX", "patch_z": 8, "batch_size": 2},
        training={"mode": mode, "epochs": 3, "steps_per_epoch": 6, "learning_rate": 1e-2},
    )
    data = {"self-supervised": (noisy, None), "synthetic": (clean, None), "paired": (noisy, clean)}
    trainer = Trainer(config, *data[mode])
    untrained = trainer.result()
    for _ in trainer.run():
        pass

    assert prediction_error(trainer.result(), noisy, clean) < 0.5 * prediction_error(untrained, noisy, clean)


def test_3d_training_refuses_a_volume_thinner_than_the_patch(tiny_config, blobs):
    config = tiny_config(model={"spatial_dims": 3}, data={"axes": "ZYX", "patch_z": 16})

    with pytest.raises(ValueError, match="volumes are 8x24x24.*16x16x16 training patch"):
        Trainer(config, blobs((8, 24, 24)))


def test_poisson_gaussian_data_fine_tune_on_thinned_pairs(tiny_config, blobs):
    from napari_autoencoders.core.fine_tuning import THINNING

    clean = blobs((64, 64))
    noisy = add_noise(clean, "poisson:10+gaussian:0.01", seed=0)
    config = _pretrained_config(tiny_config, "self-supervised")
    config.training.epochs = 3
    trainer = Trainer(config, noisy)
    trainer.prepare()
    assert trainer.config.model.noise_gain > 0
    part, rest, mask = trainer.validation[0]
    assert mask is None and not torch.equal(part, rest)
    # the photons of each pixel, split: the input holds THINNING of them
    photons = trainer.calibration.photons  # the estimate with a signed read variance
    assert photons.gain > 0
    gain, offset = photons.gain, photons.read_variance / photons.gain
    counts = (part + offset) / gain * THINNING + (rest + offset) / gain * (1 - THINNING)
    shift = counts - counts.round()  # whole counts, less rounding's mean shift: one constant
    assert torch.allclose(shift, shift.flatten()[0], atol=1e-3)
    assert trainer.input_loss == pytest.approx(
        np.mean([float(torch.mean((x - y) ** 2)) for x, y, _ in trainer.validation])
    )
    for _ in trainer.run():
        pass
    assert len(trainer.history) == 3  # no early stop: the fine-tuning runs


def test_fine_tuning_worse_on_neighbouring_pixels_gives_the_prior_back(tiny_config, blobs):
    import copy

    noisy = add_noise(blobs((128, 128)), "poisson:10+gaussian:0.01", seed=0)
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), noisy)
    trainer.prepare()
    prior_state, prior_loss = trainer.best_state, trainer.best_loss
    # weights as good as the prior's are kept
    trainer.best_state = copy.deepcopy(prior_state)
    trainer.best_loss = prior_loss / 2
    trainer._keep_prior_if_worse()
    assert trainer.best_state is not prior_state and trainer.best_loss == prior_loss / 2
    # a zero head makes the residual U-Net the identity: it keeps all the noise
    trainer.best_state = {key: torch.zeros_like(value) if key.startswith("head.") else value
                          for key, value in prior_state.items()}
    with pytest.warns(UserWarning, match="worse than the pretrained prior's on the input's neighbouring pixels"):
        trainer._keep_prior_if_worse()
    assert trainer.best_state is prior_state and trainer.best_loss == prior_loss


@pytest.mark.parametrize("noise, checked", [("poisson:10+gaussian:0.01", True),
                                            ("poisson:40+gaussian:0.01", False), ("gaussian:0.1", False)])
def test_only_thinned_fine_tuning_on_few_photons_is_checked_on_neighbouring_pixels(
    tiny_config, blobs, noise, checked
):
    # at more photons the sub-images' one-pixel offset, not the noise, rules the comparison
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), add_noise(blobs((64, 64)), noise, seed=0))
    trainer.prepare()
    assert (trainer._prior_check is not None) == checked


def test_hot_and_dead_pixels_are_replaced_in_training_and_in_the_result(tiny_config, blobs):
    from scipy import ndimage as ndi

    clean = 0.1 + 0.8 * blobs((96, 96))
    noisy = add_noise(clean, "poisson:300+gaussian:0.01", seed=0)
    hot = (np.array([10, 40, 70, 85]), np.array([20, 50, 15, 80]))
    # among neighbours of 165 photons or more
    dead = tuple(np.argwhere(ndi.minimum_filter(clean, size=5) > 0.55)[[0, -1]].T)
    noisy[hot], noisy[dead] = 5.0, 0.0
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), noisy)
    with pytest.warns(UserWarning, match="4 hot and 2 dead pixels"):
        for _ in trainer.run():
            pass
    assert trainer.calibration.defects == (4, 2)
    assert noisy[hot].tolist() == [5.0] * 4 and noisy[dead].tolist() == [0.0] * 2  # the input is kept
    denoised = trainer.result().predict(noisy, axes="YX")
    spots = tuple(np.concatenate(axis) for axis in zip(hot, dead))
    assert np.abs(denoised[spots] - clean[spots]).max() < 0.2


def test_dim_hot_pixels_that_frames_share_are_replaced_in_training_and_in_the_result(tiny_config, blobs):
    wide = 0.2 + 0.6 * blobs((128, 128))
    shifts = np.random.default_rng(1).integers(0, 48, (6, 2))
    clean = np.stack([wide[y:y + 80, x:x + 80] for y, x in shifts])  # a drifting stage
    noisy = add_noise(clean, "poisson:30+gaussian:0.01", seed=0)
    spots = (np.array([10, 40, 70, 60]), np.array([20, 50, 15, 70]))
    noisy[:, spots[0], spots[1]] += 5 * (0.8 / 30) ** 0.5  # 5 deviations: too dim for one frame
    config = _pretrained_config(tiny_config, "self-supervised")
    config.data.axes = "SYX"
    trainer = Trainer(config, noisy)
    with pytest.warns(UserWarning, match="24 hot pixels"):
        for _ in trainer.run():
            pass
    assert trainer.calibration.defects == (24, 0)  # each of 4 in each of 6 frames
    denoised = trainer.result().predict(noisy, axes="SYX")
    error = np.abs(denoised[:, spots[0], spots[1]] - clean[:, spots[0], spots[1]])
    assert error.max() < 0.1
    alone = trainer.result().predict(noisy[0], axes="YX")  # one frame cannot tell them
    assert np.abs(alone[spots] - clean[0][spots]).max() > 0.1


def test_noise_correlated_along_rows_is_denoised_in_phases_in_training_and_in_the_result(tiny_config):
    from scipy import ndimage as ndi
    from skimage import data as images

    clean = images.camera()[::2, ::2][:160, :200] / 255.0
    white = np.random.default_rng(0).normal(0.0, 0.1, clean.shape)
    noisy = (clean + ndi.convolve1d(white, np.array([0.5, 1.0, 0.5]) / 1.5**0.5, axis=1)).astype(np.float32)
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), noisy)
    with pytest.warns(UserWarning, match="correlates along X .* 3 interleaved sets of columns"):
        for _ in trainer.run():
            pass
    model = trainer.result()
    assert model.config.model.noise_strides == (1, 3)
    assert trainer.calibration.noise_correlation[1, 0] > 0.5
    denoised = model.predict(noisy, axes="YX")
    assert denoised.shape == noisy.shape
    whole = dataclasses.replace(model.config.model, noise_strides=(1, 1))
    unsplit = dataclasses.replace(model, config=dataclasses.replace(model.config, model=whole))
    unsplit = unsplit.predict(noisy, axes="YX")
    error = [np.mean((image - clean) ** 2) for image in (noisy, unsplit, denoised)]
    assert error[2] < 0.6 * error[1] < 0.6 * error[0]  # whole, the same network removes less


def test_noise2void_from_random_weights_splits_noise_correlated_along_rows_where_asked(tiny_config):
    from scipy import ndimage as ndi
    from skimage import data as images

    clean = images.camera()[::2, ::2][:160, :200] / 255.0
    white = np.random.default_rng(0).normal(0.0, 0.1, clean.shape)
    noisy = (clean + ndi.convolve1d(white, np.array([0.5, 1.0, 0.5]) / 1.5**0.5, axis=1)).astype(np.float32)
    measured = Trainer(tiny_config(data={"patch_size": 32}), noisy)
    with pytest.warns(UserWarning, match="keeps the image whole unless asked: noise strides 1,3"):
        for _ in measured.run():
            pass
    assert measured.result().config.model.noise_strides == (1, 1)
    asked = Trainer(tiny_config(data={"patch_size": 32, "noise_strides": (1, 3)}), noisy)
    with pytest.warns(UserWarning, match="3 interleaved sets, 1 rows and 3 columns apart"):
        for _ in asked.run():
            pass
    model = asked.result()
    assert model.config.model.noise_strides == (1, 3) and not model.config.training.pretrained
    assert model.predict(noisy, axes="YX").shape == noisy.shape


def test_white_noise_and_phases_narrower_than_a_patch_are_not_split(tiny_config):
    from scipy import ndimage as ndi
    from skimage import data as images

    clean = images.camera()[::4, ::4] / 255.0  # 128 x 128: phases 42 wide hold no 64-pixel patch
    white = np.random.default_rng(0).normal(0.0, 0.1, clean.shape)
    correlated = clean + ndi.convolve1d(white, np.array([0.5, 1.0, 0.5]) / 1.5**0.5, axis=1)
    for noisy, patch in ((clean + white, 32), (correlated, 64)):
        config = _pretrained_config(tiny_config, "self-supervised")
        config.data.patch_size = patch
        trainer = Trainer(config, noisy.astype(np.float32))
        trainer.prepare()
        assert trainer.config.model.noise_strides == (1, 1) and trainer.calibration.noise_correlation is None


def _both_axes_noisy(clean: np.ndarray) -> np.ndarray:
    """``clean`` with white noise correlated along Y and X alike (as an interpolated image's)."""
    from scipy import ndimage as ndi

    white = np.random.default_rng(0).normal(0.0, 0.1, clean.shape)
    kernel = np.array([0.5, 1.0, 0.5]) / 1.5**0.5
    return (clean + ndi.convolve1d(ndi.convolve1d(white, kernel, axis=0), kernel, axis=1)).astype(np.float32)


def test_a_nearly_clean_image_has_its_noise_measure_scaled_down_with_a_warning(tiny_config):
    from skimage import data as images

    from napari_autoencoders.core.data.stabilization import estimate_planes_noise

    clean = images.gravel()[:200, :200] / 255.0
    noisy = (clean + np.random.default_rng(1).normal(0.0, 1 / 255, clean.shape)).astype(np.float32)
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), noisy)
    with pytest.warns(UserWarning, match="prior removes only .* taken as 0.[0-5]"):
        for _ in trainer.run():
            pass
    fitted = estimate_planes_noise(trainer.input_norm.normalize(noisy[None, None]))[0]
    model = trainer.result().config.model
    assert model.noise_variance < 0.6 * fitted.read_variance and model.noise_gain == 0
    errors = [np.mean((image - clean) ** 2) for image in (noisy, trainer.result().predict(noisy, axes="YX"))]
    assert errors[1] < 2 * errors[0]  # near the input: little of the texture is taken for noise


def _collection_trainer(tiny_config, images):
    config = _pretrained_config(tiny_config, "self-supervised")
    config.data.axes = "YX"
    trainer = Trainer(config, ImageCollection(images, "YX"))
    trainer.prepare()
    return trainer


def test_a_collection_on_white_canvases_is_measured_and_normalised_as_without(tiny_config):
    from skimage import data as images

    noisy = [add_noise(images.camera()[::4, ::4] / 255.0, "poisson:30+gaussian:0.01", seed=seed).astype(np.float32)
             for seed in (0, 1)]  # fmt: skip
    padded = [np.pad(image, 96, constant_values=image.max()) for image in noisy]  # corners all canvas
    plain, canvas = _collection_trainer(tiny_config, noisy), _collection_trainer(tiny_config, padded)
    assert canvas.input_norm.high[0] == pytest.approx(plain.input_norm.high[0], rel=0.02)
    assert canvas.config.model.noise_gain == pytest.approx(plain.config.model.noise_gain, rel=0.1)
    assert canvas.sampler.flat_noise


def test_a_nearly_clean_collection_has_its_noise_model_scaled_but_finds_defects_with_the_measured(tiny_config):
    from skimage import data as images

    clean = images.gravel()[:200, :200] / 255.0
    noisy = [(clean + np.random.default_rng(seed).normal(0.0, 1 / 255, clean.shape)).astype(np.float32)
             for seed in (1, 2)]  # fmt: skip
    trainer = _collection_trainer(tiny_config, noisy)
    factor = trainer.calibration.noise_check[0]
    measured = trainer.sampler.noise.read_variance  # the patches' defective pixels: the model as measured
    assert factor < 0.6 and trainer.config.model.noise_variance == pytest.approx(factor * measured)


def test_a_collection_of_differently_noisy_images_keeps_its_noise_model(tiny_config):
    from skimage import data as images

    clean = images.camera()[::2, ::2][:200, :200] / 255.0
    noisy = [add_noise(clean, f"gaussian:{sigma}", seed=0).astype(np.float32) for sigma in (0.1, 0.03, 0.2)]
    trainer = _collection_trainer(tiny_config, noisy)
    assert trainer.calibration.noise_check is None


def test_a_stack_of_differently_noisy_images_keeps_its_noise_model(tiny_config):
    from skimage import data as images

    clean = images.camera()[::2, ::2] / 255.0
    stack = np.stack([add_noise(clean, f"gaussian:{sigma}", seed=0) for sigma in (0.1, 0.03, 0.2)])
    config = _pretrained_config(tiny_config, "self-supervised")
    config.data.axes = "SYX"
    trainer = Trainer(config, stack.astype(np.float32))
    trainer.prepare()  # the middle plane alone, against the model of all, read 0.16
    assert trainer.calibration.noise_check is None


def test_a_constant_canvas_is_made_noisy_for_fine_tuning_on_pairs(tiny_config):
    from skimage import data as images

    from napari_autoencoders.core.data.canvas import flat_pixels

    noisy = add_noise(images.camera()[::4, ::4] / 255.0, "poisson:30+gaussian:0.01", seed=0)
    canvas = np.full((192, 192), float(np.median(noisy)), np.float32)
    canvas[32:-32, 32:-32] = noisy  # its pairs' noises would be each other's negative
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), canvas)
    trainer.prepare()
    assert not any(flat_pixels(plane).any() for plane in trainer.sampler.inputs[:, 0])


def test_a_white_canvas_is_neither_a_clip_level_nor_data_for_the_normalisation(tiny_config):
    from skimage import data as images

    noisy = add_noise(images.camera()[::4, ::4] / 255.0, "poisson:30+gaussian:0.01", seed=0).astype(np.float32)
    canvas = np.pad(noisy, 32, constant_values=noisy.max())  # a pile at the top, like saturation
    padded = Trainer(_pretrained_config(tiny_config, "self-supervised"), canvas)
    plain = Trainer(_pretrained_config(tiny_config, "self-supervised"), noisy)
    padded.prepare()  # in the training thread: the canvas is searched there
    plain.prepare()
    assert padded.input_norm.to_dict() == plain.input_norm.to_dict()
    assert padded.calibration.clipped_share == 0.0
    assert padded.config.model.noise_gain == pytest.approx(plain.config.model.noise_gain, rel=0.1)


def test_clipped_counts_with_shot_noise_are_not_checked(tiny_config):
    from skimage import data as images

    clean = images.gravel()[:160, :160] / 255.0
    counts = np.random.default_rng(0).poisson(3000 * clean).astype(np.float32)
    saturated = np.minimum(counts, np.percentile(counts, 97))  # a camera's full well
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), saturated)
    trainer.prepare()
    assert trainer.calibration.noise_check is None


def test_noise_correlated_along_both_axes_is_kept_whole_with_a_warning_naming_the_strides(tiny_config):
    from skimage import data as images

    clean = images.camera()[::2, ::2][:200, :200] / 255.0
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), _both_axes_noisy(clean))
    with pytest.warns(UserWarning, match="correlate along both axes .* noise strides 3,3 split it"):
        for _ in trainer.run():
            pass
    assert trainer.result().config.model.noise_strides == (1, 1)


def test_noise_strides_asked_for_split_noise_correlated_along_both_axes(tiny_config):
    from skimage import data as images

    clean = images.camera()[::2, ::2][:200, :200] / 255.0
    noisy = _both_axes_noisy(clean)
    unsplit = Trainer(_pretrained_config(tiny_config, "self-supervised"), noisy)
    unsplit.prepare()
    assert unsplit.config.model.noise_strides == (1, 1)  # measured: taken for texture
    config = _pretrained_config(tiny_config, "self-supervised")
    config.data.noise_strides = (3, 3)
    trainer = Trainer(config, noisy)
    with pytest.warns(UserWarning, match="9 interleaved sets, 3 rows and 3 columns apart .* ask"):
        for _ in trainer.run():
            pass
    model = trainer.result()
    assert model.config.model.noise_strides == (3, 3)
    assert min(trainer.calibration.noise_correlation[:, 0]) > 0.5
    sigma = 0.1 / (trainer.input_norm.high[0] - trainer.input_norm.low[0])  # on the normalised scale
    # the phases' noise, of which the whole image shows about a twentieth
    assert model.config.model.noise_variance == pytest.approx(sigma**2, rel=0.2)
    errors = [np.mean((image - clean) ** 2) for image in (noisy, model.predict(noisy, axes="YX"))]
    assert errors[1] < 0.3 * errors[0]


def test_noise_strides_1_1_keep_row_noise_whole(tiny_config):
    from scipy import ndimage as ndi
    from skimage import data as images

    clean = images.camera()[::2, ::2][:160, :200] / 255.0
    white = np.random.default_rng(0).normal(0.0, 0.1, clean.shape)
    noisy = (clean + ndi.convolve1d(white, np.array([0.5, 1.0, 0.5]) / 1.5**0.5, axis=1)).astype(np.float32)
    config = _pretrained_config(tiny_config, "self-supervised")
    config.data.noise_strides = (1, 1)
    trainer = Trainer(config, noisy)
    trainer.prepare()
    assert trainer.config.model.noise_strides == (1, 1) and trainer.calibration.noise_correlation is None


def test_noise_strides_too_coarse_for_the_patch_are_refused(tiny_config):
    config = _pretrained_config(tiny_config, "self-supervised")
    config.data.noise_strides = (1, 3)
    config.data.patch_size = 32
    image = np.random.default_rng(0).random((64, 90), dtype=np.float32)
    for data in (image, ImageCollection([image, np.ones((80, 200), np.float32)], "YX")):
        with pytest.raises(ValueError, match=r"sets of 64x30 pixels, smaller than the 32-pixel"):
            Trainer(config, data)


def test_gaussian_data_fine_tune_the_prior(tiny_config):
    from skimage import data as images

    noisy = add_noise(images.camera()[::2, ::2] / 255.0, "gaussian:0.1", seed=0)
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), noisy)
    for _ in trainer.run():
        pass
    assert len(trainer.history) == 2  # both epochs: no early stop on Gaussian noise


def test_three_channels_of_gaussian_noise_are_denoised_as_colours_when_they_share_structure(tiny_config):
    from skimage import data, img_as_float32

    photo = img_as_float32(data.chelsea())[:256, :256]  # (Y, X, 3)
    unrelated = np.stack([img_as_float32(getattr(data, name)())[:256, :256] for name in ("camera", "moon", "coins")], -1)
    flags = []
    for image in (photo, unrelated):
        config = _pretrained_config(tiny_config, "self-supervised")
        config.data.axes = "YXC"
        trainer = Trainer(config, add_noise(image, "gaussian:0.1", seed=0))
        trainer.prepare()
        flags.append(trainer.config.model.opponent_colours)
    assert flags == [True, False]


@pytest.mark.parametrize("spec", ["gaussian:0.05", "poisson:30+gaussian:0.01"])
def test_channels_are_rescaled_to_one_noise_model(tiny_config, spec):
    from skimage import data, img_as_float32

    from napari_autoencoders.core.data.normalization import Normalizer
    from napari_autoencoders.core.data.stabilization import NoiseModel, estimate_channel_noise, stabilize

    # one camera's noise in three channels of different brightness
    photo = img_as_float32(data.chelsea())[:256, :256] * np.array([1.0, 0.6, 0.3], np.float32)
    noisy = add_noise(photo, spec, seed=0)
    planes = np.moveaxis(noisy, -1, 0)[None]  # (1, 3, Y, X)
    config = _pretrained_config(tiny_config, "self-supervised")
    config.data.axes = "YXC"
    trainer = Trainer(config, noisy)
    trainer.prepare()
    fitted = Normalizer.fit(planes)
    assert trainer.input_norm.high != fitted.high
    assert (trainer.input_norm.low == fitted.low) == spec.startswith("gaussian")  # shot noise: lows move
    model = trainer.config.model
    assert (model.noise_gain > 0) == spec.startswith("poisson")
    # each channel stabilised with the one model as with its own fit on its own scale
    own, _ = estimate_channel_noise(fitted.normalize(planes))
    one = NoiseModel(model.noise_gain, model.noise_variance)
    rescaled, alone = trainer.input_norm.normalize(planes)[0], fitted.normalize(planes)[0]
    for channel, model_alone in enumerate(own):
        np.testing.assert_allclose(stabilize(rescaled[channel], one), stabilize(alone[channel], model_alone),
                                   rtol=1e-4, atol=1e-4)


def test_a_dim_channel_beside_a_bright_one_is_denoised_as_it_is_alone(tiny_config):
    from skimage import data, img_as_float32

    from napari_autoencoders.core.prior import denoise_image

    # 10 and 1,000 photons: brought to the median read variance, the dim channel's values
    # dropped below its 1st percentile, where the inverse Anscombe transform clips: all lost
    clean = img_as_float32(data.camera())[::2, ::2][:192, :192]
    counts = np.stack([add_noise(clean, f"poisson:{peak}+gaussian:{1 / peak}", seed=index) * peak
                       for index, peak in enumerate((10, 1000))], -1).astype(np.float32)  # fmt: skip
    config = _pretrained_config(tiny_config, "self-supervised")
    config.data.axes = "YXC"
    trainer = Trainer(config, counts)
    trainer.prepare()
    together = trainer.result().predict(counts, axes="YXC")
    for channel in range(2):
        alone = denoise_image(counts[..., channel])
        errors = [np.mean((image - clean * (10, 1000)[channel]) ** 2) for image in (alone, together[..., channel])]
        assert errors[1] < 1.1 * errors[0]


def test_rescaled_channels_errors_count_on_their_own_scale(tiny_config):
    from skimage import data, img_as_float32

    from napari_autoencoders.core.data.normalization import Normalizer

    # one camera's counts in two channels, 10 and 100 photons at their brightest: rescaled to one
    # noise model, the bright channel's values grow about tenfold and so would its share of the loss
    clean = img_as_float32(data.chelsea())[:256, :256, :2]
    noisy = np.stack([add_noise(clean[..., c], f"poisson:{peak}+gaussian:0.01", seed=c) * peak
                      for c, peak in enumerate((10, 100))], -1)
    config = _pretrained_config(tiny_config, "self-supervised")
    config.data.axes = "YXC"
    trainer = Trainer(config, noisy)
    trainer.prepare()
    fitted = Normalizer.fit(np.moveaxis(noisy, -1, 0)[None])
    shrink = [(h - lo) / (h2 - lo2) for h, lo, h2, lo2 in zip(
        fitted.high, fitted.low, trainer.input_norm.high, trainer.input_norm.low)]
    assert shrink[1] > 3 * shrink[0]  # the bright channel's values grew against the dim one's
    # an error of 0.1 on each channel's own scale is 0.1 * shrink on the trainer's: weighted, the same
    error = torch.stack([torch.full((1, 8, 8), 0.1 * s) for s in shrink], dim=1)
    contributions = trainer.calibration.channel_weights * error.pow(2).mean(dim=(0, 2, 3))
    assert float(contributions[1]) == pytest.approx(float(contributions[0]), rel=1e-4)


def test_paired_targets_follow_their_inputs_rescaled_channels(tiny_config):
    from skimage import data, img_as_float32

    from napari_autoencoders.core.data.normalization import Normalizer

    photo = img_as_float32(data.chelsea())[:256, :256] * np.array([1.0, 0.6, 0.3], np.float32)
    noisy = add_noise(photo, "gaussian:0.05", seed=0)
    config = _pretrained_config(tiny_config, "paired")
    config.data.axes = "YXC"
    trainer = Trainer(config, noisy, photo)
    trainer.prepare()
    assert trainer.input_norm != Normalizer.fit(np.moveaxis(noisy, -1, 0)[None])  # rescaled
    inputs = trainer.input_norm.normalize(np.moveaxis(noisy, -1, 0)[None])
    targets = trainer.target_norm.normalize(np.moveaxis(photo, -1, 0)[None])
    for channel in range(3):  # the clean targets on their noisy inputs' scale
        slope, intercept = np.polyfit(targets[0, channel].ravel(), inputs[0, channel].ravel(), 1)
        assert slope == pytest.approx(1.0, abs=0.01) and intercept == pytest.approx(0.0, abs=0.01)


def test_channels_with_and_without_shot_noise_keep_their_own_scales(tiny_config):
    from skimage import data, img_as_float32

    from napari_autoencoders.core.data.normalization import Normalizer

    photo = img_as_float32(data.chelsea())[:256, :256]
    noisy = np.stack([add_noise(photo[..., c], spec, seed=c) for c, spec in
                      enumerate(["gaussian:0.05", "poisson:30", "poisson:30"])], -1)
    config = _pretrained_config(tiny_config, "self-supervised")
    config.data.axes = "YXC"
    trainer = Trainer(config, noisy)
    trainer.prepare()
    assert trainer.input_norm == Normalizer.fit(np.moveaxis(noisy, -1, 0)[None])


def test_a_colour_model_file_denoises_as_opponent_colours_again(tiny_config, tmp_path):
    from skimage import data, img_as_float32

    from napari_autoencoders.core.io.model_files import load_model

    noisy = add_noise(img_as_float32(data.chelsea())[:, :384], "gaussian:0.1", seed=0)
    config = _pretrained_config(tiny_config, "self-supervised")
    config.data.axes = "YXC"
    config.training.epochs, config.training.steps_per_epoch = 1, 2
    model = fit(config, noisy)
    loaded = load_model(model.save(tmp_path / "colours.safetensors"))
    assert loaded.config.model.opponent_colours
    crop = noisy[:64, :64]
    np.testing.assert_allclose(loaded.predict(crop, axes="YXC"), model.predict(crop, axes="YXC"), atol=1e-5)


def test_thinned_training_data_lose_dark_outliers_that_the_input_keeps(tiny_config, blobs):
    from scipy import ndimage as ndi

    clean = 0.05 + 0.9 * blobs((96, 96))
    noisy = add_noise(clean, "poisson:60+gaussian:0.01", seed=0)
    # among neighbours of 21 photons or more, above the validation strip (rows 64 on)
    bright = np.argwhere(ndi.minimum_filter(clean, size=5)[:60] > 0.35)
    dead = tuple(bright[[0, len(bright) // 2, -1]].T)
    noisy[dead] = 0.0  # no photon: not told from noise by the neighbours' deviations
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), noisy)
    trainer.prepare()
    assert trainer.calibration.defects == (0, 0)
    planes = trainer.sampler.inputs[0, 0]  # the training data, normalised
    assert planes[dead].min() > 0.3 * np.median(planes)
    assert noisy[dead].tolist() == [0.0] * 3


@pytest.mark.parametrize(
    ("spec", "lazy"), [("gaussian:0.1", False), ("poisson:30+gaussian:0.01", False), ("gaussian:0.1", True)]
)
def test_fine_tuning_an_image_too_small_to_validate_on_keeps_the_prior(tiny_config, blobs, spec, lazy):
    noisy = add_noise(0.1 + 0.8 * blobs((60, 60)), spec, seed=0)  # patches of 32: no strip of 32 left
    data = ImageCollection([noisy], "YX") if lazy else noisy  # a collection fine-tuned it before
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in trainer.run():
            pass
    said = [str(warning.message) for warning in caught]
    assert any("too small to hold out a validation region of one patch (32 pixels" in line for line in said)
    assert not any("validating on the training data" in line for line in said)  # one message, not two
    assert trainer.history[-1]["step"] == 0 and same_state(trainer.best_state, trainer.network.state_dict())


def test_noise2void_on_an_image_too_small_to_validate_on_still_trains(tiny_config, blobs):
    noisy = add_noise(0.1 + 0.8 * blobs((60, 60)), "gaussian:0.1", seed=0)
    config = tiny_config(data={"batch_size": 2, "patch_size": 32}, training={"mode": "self-supervised"})
    trainer = Trainer(config, noisy)
    with pytest.warns(UserWarning, match="validating on the training data"):
        for _ in trainer.run():
            pass
    assert trainer.history[-1]["step"] > 0


def test_self_supervised_training_on_clipped_gaussian_noise_keeps_the_prior_and_declips(tiny_config, tmp_path):
    from skimage import data

    from napari_autoencoders.core.io.model_files import load_model

    clean = data.camera()[::2, ::2] / 255.0
    noisy = np.clip(np.round(255 * add_noise(clean, "gaussian:0.2", seed=0)), 0, 255).astype(np.uint8)
    trainer = Trainer(_pretrained_config(tiny_config, "self-supervised"), noisy)
    with pytest.warns(UserWarning, match=r"% of the input's pixels are clipped \(at 0.0 and 255.0\)"):
        for _ in trainer.run():
            pass
    model = trainer.result()
    assert (model.config.model.clip_low, model.config.model.clip_high) == (0.0, 255.0)  # the data's units
    assert model.config.model.noise_gain == 0.0
    assert trainer.history[-1]["step"] == 0  # fine-tuning on clipped pairs would learn to add noise
    declipped = model.predict(noisy, axes="YX")
    loaded = load_model(model.save(tmp_path / "clipped.safetensors"))
    np.testing.assert_allclose(loaded.predict(noisy, axes="YX"), declipped, atol=1e-3)
    unclipped = dataclasses.replace(model.config.model, clip_low=None, clip_high=None)
    model.config.model = unclipped
    biased = model.predict(noisy, axes="YX")
    dark = clean < 0.05  # the camera man's coat, where clipping at 0 brightened the noisy mean
    assert declipped[dark].mean() < biased[dark].mean() - 5
    assert np.abs(declipped / 255 - clean).mean() < np.abs(biased / 255 - clean).mean()


@pytest.mark.parametrize("mode", ["paired", "synthetic"])
def test_only_self_supervised_training_declips(tiny_config, mode):
    from skimage import data

    clean = data.camera()[::2, ::2] / 255.0
    noisy = np.clip(add_noise(clean, "gaussian:0.2", seed=0), 0.0, 1.0)
    config = _pretrained_config(tiny_config, mode)
    config.training.epochs, config.training.steps_per_epoch = 1, 1
    trainer = Trainer(config, noisy, clean if mode == "paired" else None)
    trainer.prepare()
    assert (trainer.config.model.clip_low, trainer.config.model.clip_high) == (None, None)


def test_self_supervised_training_on_counts_clipped_at_zero_photons_keeps_their_shot_noise(tiny_config):
    from skimage import data

    clean = np.clip(data.moon()[:192, :192] / 255.0 - 0.3, 0.0, None)  # a dark border
    noisy = np.clip(add_noise(clean, "poisson:10+gaussian:0.01", seed=0), 0.0, 1.0)
    config = _pretrained_config(tiny_config, "self-supervised")
    config.training.epochs, config.training.steps_per_epoch = 1, 2
    trainer = Trainer(config, noisy)
    for _ in trainer.run():
        pass
    model = trainer.config.model
    assert model.clip_low == 0.0
    assert model.noise_gain > 0  # not clipped Gaussian noise: thinned counts, fine-tuned
    assert trainer.history[-1]["step"] == 2


def test_self_supervised_training_fine_tunes_where_little_of_the_noise_is_clipped(tiny_config):
    from skimage import data

    clean = 0.7 * data.camera()[::2, ::2] / 255.0 + 0.15  # 0.7 % of the noisy pixels clipped
    noisy = np.clip(np.round(255 * add_noise(clean, "gaussian:0.1", seed=0)), 0, 255).astype(np.uint8)
    config = _pretrained_config(tiny_config, "self-supervised")
    config.training.epochs, config.training.steps_per_epoch = 1, 2
    trainer = Trainer(config, noisy)
    for _ in trainer.run():
        pass
    assert (trainer.config.model.clip_low, trainer.config.model.clip_high) == (0.0, 255.0)
    assert trainer.history[-1]["step"] == 2


def test_fit_keeps_the_best_validated_model_of_a_training_that_diverges(tiny_config, blobs, monkeypatch):
    original, from_the_start = Trainer._loss, []

    def diverging(self, *args, **kwargs):  # after the first validation, or from the start
        value = original(self, *args, **kwargs)
        return value * float("nan") if self.history or from_the_start else value

    monkeypatch.setattr(Trainer, "_loss", diverging)
    config = tiny_config(training={"epochs": 3, "steps_per_epoch": 2})
    with pytest.warns(UserWarning, match="the training diverged"):
        model = fit(config, blobs())
    assert len(model.history) == 1
    from_the_start.append(True)
    with pytest.raises(FloatingPointError, match="But none were validated"):
        fit(config, blobs())


def test_fit_warns_of_a_result_no_better_than_its_input(tiny_config, blobs, monkeypatch):
    monkeypatch.setattr(Trainer, "warning", lambda self: "the best validation loss is not below")
    with pytest.warns(UserWarning, match="the best validation loss is not below"):
        fit(tiny_config(), blobs())


def test_the_largest_seed_trains_a_vae_to_its_latent_density(tiny_vae_config, frames):
    from napari_autoencoders.core.config import MAX_SEED

    model = fit(tiny_vae_config(training={"seed": MAX_SEED}), frames)
    assert model.density is not None
