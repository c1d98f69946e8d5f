"""Tests for the task recipes: every task rule and default in one place."""

import json

import numpy as np
import pytest

from napari_autoencoders.core.config import TASK_MODES, Config, DataConfig, ModelConfig, Task, TrainingConfig
from napari_autoencoders.core.recipes import (
    DEFAULT_TIME_BUDGET,
    FRAME_BATCH_SIZE,
    FRAME_LEARNING_RATE,
    FRAME_WIDTH,
    NEIGHBOUR_WEIGHT,
    PRETRAINED_LEARNING_RATE,
    SUPERRES_PRETRAINED_LEARNING_RATE,
    SUPERRES_BATCH_SIZE,
    UNBOUNDED_EPOCHS,
    ZERO_SHOT_EPOCHS,
    ZERO_SHOT_MIN_COPY,
    ZERO_SHOT_MIN_SIDE,
    ZERO_SHOT_TIME_BUDGET,
    task_config,
)


@pytest.mark.parametrize(
    ("task", "architecture", "mode"),
    [
        ("denoise", "unet", "self-supervised"),
        ("reconstruct", "autoencoder", "self-supervised"),
        ("superres", "superres", "from-highres"),
        ("vae", "vae", "self-supervised"),
        ("aae", "aae", "self-supervised"),
    ],
)
def test_each_task_gets_its_network_and_default_mode(task, architecture, mode):
    config = task_config(task, shape=(200, 200))
    assert (config.model.architecture, config.training.mode) == (architecture, mode)
    assert config.training.task == task


@pytest.mark.parametrize("task", [t.value for t in Task])
@pytest.mark.parametrize("shape", [(64, 64), (40, 40), (3, 100, 120)])
def test_every_task_and_mode_gives_a_valid_config(task, shape):
    for mode in TASK_MODES.get(task, (None,)):
        config = task_config(task, shape=shape, mode=mode)
        assert config.validate() is config


def test_axes_and_channels_follow_the_data():
    config = task_config("denoise", shape=(64, 64, 3))
    assert config.data.axes == "YXC"
    assert config.model.in_channels == config.model.out_channels == 3
    assert task_config("denoise", shape=(2, 3, 64, 64), axes="SCYX").model.in_channels == 3


def test_frames_are_the_items_of_latent_tasks():
    for task in ("reconstruct", "vae", "aae"):
        config = task_config(task, shape=(5000, 28, 28))
        assert config.data.patch_size == config.model.input_size == 28
        large = task_config(task, shape=(10, 200, 300))
        assert large.data.patch_size == large.model.input_size == DataConfig.patch_size


def test_the_neighbour_term_takes_whole_frames_of_any_size():
    config = task_config("reconstruct", shape=(40, 96, 96), neighbour_weight=1.0)
    assert config.data.patch_size == config.model.input_size == 96


def test_the_patch_shrinks_to_fit_small_planes():
    assert task_config("denoise", shape=(40, 50)).data.patch_size == 40
    # from-highres and zero-shot train on copies downscaled by the factor
    assert task_config("superres", shape=(100, 100), factor=4).data.patch_size == 25
    paired = task_config("superres", shape=(50, 50), mode="paired")
    assert paired.data.patch_size == 50


def test_numpy_numbers_are_stored_as_python_numbers():
    config = task_config("denoise", shape=(64, 64), batch_size=np.int64(8), seed=np.int64(3),
                         time_budget=np.float32(1.5), augment=np.bool_(False))  # fmt: skip
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert type(config.data.batch_size) is int and type(config.training.time_budget) is float


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"epochs": 1.0}, "'epochs' must be a whole number, got float 1.0"),
        ({"augment": 1}, "'augment' must be true or false, got int 1"),
        ({"patch_size": "16"}, "'patch_size' must be a whole number, got str '16'"),
    ],
)
def test_options_of_the_wrong_type_are_refused_before_training(options, message):
    with pytest.raises(ValueError, match=message):
        task_config("denoise", shape=(64, 64), **options)


@pytest.mark.parametrize("shape", [(64, 64, 2), (5, 64, 64, 4)])
def test_a_last_axis_of_a_few_values_is_not_guessed_as_x(shape):
    with pytest.raises(ValueError, match=r"planes of 64x\d pixels. If the last axis holds \d channels, give 'axes' '\w*YXC'"):
        task_config("denoise", shape=shape)
    assert task_config("denoise", shape=shape, axes="SYXC"[-len(shape):]).model.in_channels == shape[-1]


def test_a_given_patch_size_is_kept():
    assert task_config("reconstruct", shape=(10, 28, 28), patch_size=16).data.patch_size == 16


def test_a_vae_scales_to_unit_range_and_never_augments():
    config = task_config("vae", shape=(100, 28, 28))
    assert config.data.percentiles == (0.0, 100.0) and not config.data.augment
    assert config.model.latent_dim == ModelConfig.latent_dim
    mse = task_config("vae", shape=(100, 28, 28), reconstruction_loss="mse", dense=True)
    assert mse.model.architecture == "vae-dense"
    assert mse.data.percentiles == DataConfig.percentiles


def test_an_aae_follows_the_vae_rules_with_a_prior_of_its_own():
    config = task_config("aae", shape=(100, 28, 28))
    assert (config.model.architecture, config.model.prior) == ("aae", "gaussian")
    assert config.data.percentiles == (0.0, 100.0) and not config.data.augment
    assert config.model.latent_dim == ModelConfig.latent_dim
    options = dict(latent_dim=2, prior="mixture", adversarial_rate=0.2)
    mixture = task_config("aae", shape=(100, 28, 28), **options)
    assert (mixture.model.prior, mixture.training.adversarial_rate) == ("mixture", 0.2)
    mse = task_config("aae", shape=(100, 28, 28), reconstruction_loss="mse")
    assert mse.data.percentiles == DataConfig.percentiles


@pytest.mark.parametrize("task", ["reconstruct", "vae", "aae"])
def test_new_convolutional_decoders_pad_by_replication_unless_told(task):
    # zero padding decodes a bright ring around every image (issue 14)
    assert task_config(task, shape=(100, 28, 28)).model.padding == "replicate"
    assert task_config(task, shape=(100, 28, 28), padding="zeros").model.padding == "zeros"


def test_the_dense_vae_has_no_padding_to_choose():
    assert task_config("vae", shape=(100, 28, 28), dense=True).model.padding == ModelConfig.padding


def test_a_time_budget_lifts_the_epoch_cap_unless_epochs_are_given():
    assert task_config("denoise", shape=(64, 64), time_budget=30).training.epochs == UNBOUNDED_EPOCHS
    both = task_config("denoise", shape=(64, 64), time_budget=30, epochs=5).training
    assert (both.time_budget, both.epochs) == (30, 5)


def test_options_left_as_none_take_the_defaults():
    assert task_config("denoise", shape=(64, 64), seed=None) == task_config("denoise", shape=(64, 64))


@pytest.mark.parametrize(
    ("task", "mode", "options", "message"),
    [
        ("denoise", None, {"latent_dim": 2}, "'latent_dim' applies to tasks reconstruct, vae and aae"),
        ("superres", None, {"padding": "zeros"}, "'padding' applies to tasks reconstruct, vae and aae"),
        ("denoise", None, {"noise": "gaussian:0.1"},
         "denoise with mode synthetic only; got task 'denoise', mode 'self-supervised'"),
        ("denoise", "synthetic", {"mask_fraction": 0.1}, "mode self-supervised only; got task 'denoise', mode 'synthetic'"),
        ("denoise", "paired", {"noise_strides": (1, 3)}, "mode self-supervised only"),
        ("superres", "paired", {"downscale": "area"}, "paired images are given"),
        ("superres", None, {"depth": 3}, "not superres"),
        ("reconstruct", None, {"beta": 2.0}, "task vae only"),
        ("reconstruct", None, {"neighbours": 5}, "above 0 too"),
        ("vae", None, {"augment": True}, "never augments"),
        ("aae", None, {"augment": True}, "task 'aae' never augments"),
        ("aae", None, {"neighbour_weight": 1.0}, "tasks reconstruct and vae only"),
        ("aae", None, {"dense": True}, "task vae only"),
        ("aae", None, {"beta": 2.0}, "task vae only"),
        ("vae", None, {"prior": "mixture"}, "'prior' applies to task aae only"),
        ("reconstruct", None, {"adversarial_rate": 1.0}, "task aae only"),
        ("reconstruct", None, {"reconstruction_loss": "mse"}, "tasks vae and aae only"),
        ("aae", None, {"prior": "mixture"}, "needs model.latent_dim 2"),
        ("denoise", None, {"architecture": "unet"}, "set by the recipe"),
        ("denoise", None, {"colour": 1}, "unknown option 'colour'; see the fields of Config"),
        ("denoise", None, {"time_budgett": 2}, "'time_budgett'; did you mean 'time_budget'"),
        ("denoise", "zero-shot", {}, "applies to task denoise"),
        ("cluster", None, {}, "task must be one of"),
    ],
)
def test_options_a_task_does_not_use_are_refused(task, mode, options, message):
    with pytest.raises(ValueError, match=message):
        task_config(task, shape=(64, 64), mode=mode, **options)


def test_the_neighbour_term_on_too_few_frames_says_so():
    with pytest.raises(ValueError, match=r"needs at least 4 frames \(2 pairs of neighbours per batch\), got 3"):
        task_config("reconstruct", shape=(3, 16, 16), axes="SYX", neighbour_weight=1.0)


def test_noise_strides_are_refused_for_a_3d_network_and_kept_from_random_weights():
    with pytest.raises(ValueError, match="splits the noisy image .* a 2D network"):
        task_config("denoise", shape=(8, 64, 64), axes="ZYX", noise_strides=(1, 3), three_d=True)
    config = task_config("denoise", shape=(64, 96), noise_strides=(1, 3), pretrained=False)
    assert config.data.noise_strides == (1, 3) and not config.training.pretrained


def test_noise_strides_are_asked_of_the_data_and_shrink_the_patch_to_the_sets():
    config = task_config("denoise", shape=(100, 300), noise_strides=[1, 3])
    assert config.data.noise_strides == (1, 3) and config.model.noise_strides == (1, 1)
    assert config.data.patch_size == 64
    assert task_config("denoise", shape=(100, 150), noise_strides=(2, 3)).data.patch_size == 50
    assert task_config("denoise", shape=(100, 150)).data.noise_strides is None


def test_messages_spell_options_as_the_front_end_does():
    with pytest.raises(ValueError, match="--kl-warmup applies to task vae only"):
        task_config("denoise", shape=(64, 64), kl_warmup=10, spell=lambda n: f"--{n}".replace("_", "-"))


def test_a_stack_of_frames_to_embed_gets_the_neighbour_term_and_no_augmentation():
    config = task_config("reconstruct", shape=(4000, 28, 28))
    assert config.training.neighbour_weight == NEIGHBOUR_WEIGHT and not config.data.augment
    # a narrow network, large batches and a fast rate: the most grouping in a short training
    assert (config.model.width, config.data.batch_size) == (FRAME_WIDTH, FRAME_BATCH_SIZE)
    assert config.training.learning_rate == FRAME_LEARNING_RATE
    given = task_config("reconstruct", shape=(4000, 28, 28), width=8, batch_size=8, learning_rate=1e-3)
    assert (given.model.width, given.data.batch_size, given.training.learning_rate) == (8, 8, 1e-3)
    assert task_config("reconstruct", shape=(40, 28, 28)).data.batch_size == 40  # no more than the frames
    off = task_config("reconstruct", shape=(4000, 28, 28), neighbour_weight=0.0, augment=True)
    assert off.training.neighbour_weight == 0 and off.data.augment
    assert (off.model.width, off.data.batch_size) == (ModelConfig.width, DataConfig.batch_size)
    # with the term on by default, the number of neighbours can be given alone
    assert task_config("reconstruct", shape=(4000, 28, 28), neighbours=7).training.neighbours == 7


def test_frames_read_lazily_train_without_the_neighbour_term_by_default():
    config = task_config("reconstruct", shape=(4000, 28, 28), lazy=True)
    assert config.training.neighbour_weight == 0 and not config.data.augment
    assert config.data.patch_size == 28  # each frame is still one item


@pytest.mark.parametrize(
    ("shape", "options"),
    [
        ((10, 28, 28), {}),  # fewer frames than neighbours per frame
        ((100, 28, 28), {"batch_size": 2}),  # a batch cannot hold two pairs
        ((10, 200, 300), {}),  # large frames: the items are patches, not frames
    ],
)
def test_the_neighbour_term_stays_off_where_it_cannot_run(shape, options):
    config = task_config("reconstruct", shape=shape, **options)
    assert config.training.neighbour_weight == 0
    with pytest.raises(ValueError, match="neighbour term only, which is off here"):
        task_config("reconstruct", shape=shape, neighbours=20, **options)


def test_large_images_to_reconstruct_keep_their_augmentation():
    assert task_config("reconstruct", shape=(512, 512)).data.augment


def test_without_epochs_or_budget_a_training_has_the_default_budget():
    training = task_config("denoise", shape=(64, 64)).training
    assert (training.time_budget, training.epochs) == (DEFAULT_TIME_BUDGET, UNBOUNDED_EPOCHS)
    epochs = task_config("denoise", shape=(64, 64), epochs=7).training
    assert (epochs.time_budget, epochs.epochs) == (None, 7)  # reproducible with a seed


def test_zero_shot_super_resolution_trains_briefly_by_default():
    config = task_config("superres", shape=(200, 200), mode="zero-shot")
    assert config.training.time_budget == ZERO_SHOT_TIME_BUDGET < DEFAULT_TIME_BUDGET
    # a step cap within the budget: longer, it learns the image by heart
    assert config.training.epochs == ZERO_SHOT_EPOCHS
    budget = task_config("superres", shape=(200, 200), mode="zero-shot", time_budget=60).training
    assert (budget.time_budget, budget.epochs) == (60, UNBOUNDED_EPOCHS)  # a given budget is kept


@pytest.mark.parametrize("factor", [2, 4])
def test_zero_shot_patches_leave_room_for_a_validation_strip(factor):
    config = task_config("superres", shape=(512, 512), mode="zero-shot", factor=factor)
    coarse = 512 // factor  # the side of the downscaled copy the network learns from
    assert 2 * config.data.patch_size <= coarse
    from_highres = task_config("superres", shape=(256, 256), factor=factor)
    assert from_highres.data.patch_size == min(64, 256 // factor)


@pytest.mark.parametrize("mode", ["from-highres", "paired"])
def test_super_resolution_from_given_images_trains_on_small_batches_at_x2(mode):
    # four times the steps of the default batch in the same time: more detail learned in 120 s
    config = task_config("superres", shape=(256, 256), mode=mode)
    assert config.data.batch_size == SUPERRES_BATCH_SIZE[2] < DataConfig.batch_size
    for factor in (3, 4):
        other = task_config("superres", shape=(256, 256), mode=mode, factor=factor)
        assert other.data.batch_size == DataConfig.batch_size
    assert task_config("superres", shape=(256, 256), mode=mode, batch_size=16).data.batch_size == 16
    zero_shot = task_config("superres", shape=(512, 512), mode="zero-shot")
    assert zero_shot.data.batch_size == DataConfig.batch_size


@pytest.mark.parametrize(("shape", "axes", "factor"), [((255, 400), "YX", 4), ((3, 120, 300), "SYX", 2)])
def test_zero_shot_from_scratch_refuses_an_image_too_small_to_learn_its_own_upscaling(shape, axes, factor):
    options = dict(axes=axes, mode="zero-shot", factor=factor, pretrained=False)
    with pytest.raises(ValueError, match=r"downscaled x\d, \d+ pixels .* needs 64 .*from-highres"):
        task_config("superres", shape=shape, **options)
    side = ZERO_SHOT_MIN_SIDE * factor  # just large enough
    assert task_config("superres", shape=(side, side), **{**options, "axes": "YX"})


@pytest.mark.parametrize("factor", [2, 4])
def test_zero_shot_with_the_shipped_upscaler_takes_a_small_image(factor):
    assert task_config("superres", shape=(64, 64), mode="zero-shot", factor=factor).training.pretrained
    side = ZERO_SHOT_MIN_COPY * factor
    assert task_config("superres", shape=(side, side), mode="zero-shot", factor=factor)
    with pytest.raises(ValueError, match=rf"copy downscaled x{factor}, {ZERO_SHOT_MIN_COPY - 1} pixels"):
        task_config("superres", shape=(side - factor, side), mode="zero-shot", factor=factor)


@pytest.mark.parametrize(("factor", "smaller"), [(2, False), (3, True)])
def test_a_smaller_factor_is_advised_only_where_there_is_one(factor, smaller):
    side = ZERO_SHOT_MIN_COPY * factor - factor
    with pytest.raises(ValueError, match="Use a larger image, or a model trained with mode from-highres") as err:
        task_config("superres", shape=(side, side), mode="zero-shot", factor=factor)
    assert ("smaller factor" in str(err.value)) == smaller


def test_three_d_trains_a_3d_unet_on_thick_patches():
    config = task_config("denoise", shape=(40, 256, 256), axes="ZYX", three_d=True)

    assert config.model.spatial_dims == 3 and config.data.axes == "ZYX"
    assert (config.data.patch_z, config.data.patch_size, config.data.batch_size) == (16, 32, 4)


def test_three_d_patches_shrink_to_a_thin_volume_and_take_given_sizes():
    thin = task_config("denoise", shape=(2, 8, 20, 100), axes="TZYX", three_d=True, mode="synthetic")
    given = task_config("denoise", shape=(40, 256, 256), axes="ZYX", three_d=True, patch_z=8, batch_size=2)

    assert (thin.data.patch_z, thin.data.patch_size) == (8, 20)
    assert (given.data.patch_z, given.data.batch_size) == (8, 2)


def test_without_three_d_a_volume_is_taken_plane_by_plane():
    config = task_config("denoise", shape=(40, 256, 256), axes="ZYX")

    assert config.model.spatial_dims == 2 and config.data.batch_size == DataConfig.batch_size


@pytest.mark.parametrize(
    ("task", "axes", "options", "message"),
    [
        ("superres", "ZYX", {"three_d": True}, "'three_d' applies to task denoise only"),
        ("denoise", "SYX", {"three_d": True}, "'three_d' needs a Z axis.*'SYX'"),
        ("denoise", "ZYX", {"patch_z": 8}, "'patch_z' applies to 3D networks only"),
        ("denoise", "ZYX", {"spatial_dims": 3}, "'spatial_dims' is set by the recipe"),
    ],
)
def test_three_d_misuse_is_refused(task, axes, options, message):
    with pytest.raises(ValueError, match=message):
        task_config(task, shape=(20, 64, 64), axes=axes, **options)


def test_three_d_guesses_a_z_axis():
    assert task_config("denoise", shape=(20, 64, 64), three_d=True).data.axes == "ZYX"
    assert task_config("denoise", shape=(2, 20, 64, 64), three_d=True).data.axes == "TZYX"
    assert task_config("denoise", shape=(20, 64, 64)).data.axes == "SYX"


def test_denoising_starts_from_the_prior_by_default():
    config = task_config("denoise", shape=(128, 128))
    assert config.training.pretrained
    assert (config.model.depth, config.model.width, config.model.residual) == (3, 32, True)
    assert config.training.learning_rate == PRETRAINED_LEARNING_RATE


@pytest.mark.parametrize(
    "options",
    [{"pretrained": False}, {"depth": 2}, {"width": 16}, {"mask_fraction": 0.05},
     {"mode": "synthetic", "noise": "saltpepper:0.05"},
     {"mode": "synthetic", "noise": "gaussian:0.1+SaltPepper:0.05"}],  # fmt: skip
)
def test_network_or_masking_options_train_from_scratch(options):
    config = task_config("denoise", shape=(128, 128), **options)
    assert not config.training.pretrained
    assert config.training.learning_rate == TrainingConfig.learning_rate


def test_a_pretrained_start_refuses_masking_and_other_networks():
    with pytest.raises(ValueError, match="'mask_fraction' applies to blind-spot training"):
        task_config("denoise", shape=(128, 128), pretrained=True, mask_fraction=0.05)
    with pytest.raises(ValueError, match="needs the prior's network"):
        task_config("denoise", shape=(128, 128), pretrained=True, depth=2)
    with pytest.raises(ValueError, match="'pretrained' applies to tasks denoise and superres only"):
        task_config("vae", shape=(16, 28, 28), pretrained=True)


@pytest.mark.parametrize("mode", ["from-highres", "paired", "zero-shot"])
def test_superres_starts_from_the_shipped_upscaler(mode):
    config = task_config("superres", mode=mode, shape=(256, 256), factor=4)
    assert config.training.pretrained
    assert config.model.channelwise and (config.model.width, config.model.blocks) == (32, 4)
    assert config.training.learning_rate == SUPERRES_PRETRAINED_LEARNING_RATE


@pytest.mark.parametrize("options", [{"blocks": 8}, {"width": 16}, {"pretrained": False}])
def test_superres_network_options_train_from_scratch(options):
    config = task_config("superres", shape=(128, 128), **options)
    assert not config.training.pretrained and not config.model.channelwise
    assert config.training.learning_rate == TrainingConfig.learning_rate


def test_a_pretrained_upscaler_refuses_another_network():
    with pytest.raises(ValueError, match="needs the prior's network"):
        task_config("superres", shape=(128, 128), pretrained=True, blocks=8)


def test_a_3d_network_starts_from_scratch():
    config = task_config("denoise", shape=(20, 64, 64), three_d=True)
    assert not config.training.pretrained and config.model.spatial_dims == 3
