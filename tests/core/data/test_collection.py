"""Tests for many lazy images read through a bounded cache of blocks."""

import numpy as np
import pytest
import torch
import zarr

from napari_autoencoders.core.data.collection import (
    CachedPatchSampler,
    ImageCollection,
    Region,
    _turn,
    split_regions,
)
from napari_autoencoders.core.data.normalization import Normalizer
from napari_autoencoders.core.data.stabilization import NoiseModel
from napari_autoencoders.core.training import Trainer


def _zarr(tmp_path, data, chunks, name="a.zarr"):
    array = zarr.create_array(str(tmp_path / name), shape=data.shape, chunks=chunks, dtype=data.dtype)
    array[...] = data
    return array


def test_regions_across_blocks_equal_the_image(tmp_path):
    data = np.random.default_rng(0).random((2, 3, 40, 50)).astype(np.float32)  # ZCYX
    stored = _zarr(tmp_path, data, (1, 3, 16, 16))
    collection = ImageCollection([stored, data], "ZCYX", cache_mb=1)
    assert len(collection) == 4 and collection.channels == 3
    assert collection.block_shape(0) == (16, 16) and collection.block_shape(2) == (256, 256)
    for plane, (z, y, x) in enumerate([(0, 10, 12), (1, 24, 34), (0, 0, 0), (1, 5, 30)]):
        expected = data[z, :, y : y + 16, x : x + 16]
        np.testing.assert_array_equal(collection.read(plane, y, x, 16), expected)


def test_channels_last_planes_are_read_as_channels_first():
    data = np.random.default_rng(0).random((20, 24, 2)).astype(np.float32)
    collection = ImageCollection([data], "YXC")
    np.testing.assert_array_equal(collection.read(0, 3, 4, 8), data[3:11, 4:12].transpose(2, 0, 1))


def test_the_cache_stays_within_its_size_and_reads_again_what_it_dropped(tmp_path):
    data = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    stored = _zarr(tmp_path, data, (16, 16))  # 16 blocks of 1 KiB
    collection = ImageCollection([stored], "YX", cache_mb=4 * 1024 / 2**20)
    for y, x in [(0, 0), (40, 40), (0, 0)]:
        collection.read(0, y, x, 16)
        assert collection._cached <= collection.cache_bytes
    assert collection.reads == 1 + 4 + 1  # the first block was dropped, then read again


def test_a_cache_too_small_for_one_patch_says_the_size_it_needs(tmp_path):
    stored = _zarr(tmp_path, np.zeros((64, 64), np.float32), (32, 32))
    with pytest.raises(ValueError, match="at least 1 MB"):
        ImageCollection([stored], "YX", cache_mb=0.01).check_patch_size(16)


def test_planes_smaller_than_a_patch_are_named():
    collection = ImageCollection([np.zeros((40, 40)), np.zeros((8, 40))], "YX", names=["a", "b"])
    with pytest.raises(ValueError, match="^b: .*at most 8"):
        collection.check_patch_size(16)


def test_bad_images_are_refused_with_their_name():
    with pytest.raises(ValueError, match="different channel counts"):
        ImageCollection([np.zeros((8, 8, 2)), np.zeros((8, 8, 3))], "YXC")
    with pytest.raises(ValueError, match="no images"):
        ImageCollection([], "YX")
    with pytest.raises(ValueError, match="c.tif is complex"):
        ImageCollection([np.zeros((8, 8), complex)], "YX", names=["c.tif"])
    bad = np.zeros((8, 8), np.float32)
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="n.tif has NaN"):
        ImageCollection([bad], "YX", names=["n.tif"]).read(0, 0, 0, 8)


def test_the_normalisation_of_a_sample_is_near_that_of_all_data(tmp_path):
    data = np.random.default_rng(0).gamma(2.0, size=(4, 128, 128)).astype(np.float32)
    collection = ImageCollection([_zarr(tmp_path, data, (1, 16, 16))], "ZYX", cache_mb=1)
    sample, canvas = collection.sample_values(np.random.default_rng(0))
    assert sample.shape[:3] == (1, 1, 1) and sample.size < data.size and canvas is None
    fitted, whole = Normalizer.fit(sample), Normalizer.fit(data[:, None])
    np.testing.assert_allclose(fitted.high, whole.high, rtol=0.1)
    np.testing.assert_allclose(fitted.low, whole.low, atol=0.05)


def test_several_planes_hold_out_whole_planes_and_one_plane_a_strip():
    rng = np.random.default_rng(0)
    many = ImageCollection([np.zeros((10, 32, 32))], "ZYX")
    train, val = split_regions(many, fraction=0.2, patch_size=16, rng=rng)
    assert len(val) == 2 and len(train) == 8
    assert {r.plane for r in train}.isdisjoint(r.plane for r in val)
    one = ImageCollection([np.zeros((64, 40))], "YX")
    (train,), (val,) = split_regions(one, fraction=0.2, patch_size=16, rng=rng)
    assert train == Region(0, 0, 48, 0, 40) and val == Region(0, 48, 64, 0, 40)


def test_the_sampler_draws_normalised_patches_of_its_regions():
    data = np.arange(32 * 32, dtype=np.float32).reshape(32, 32)
    collection = ImageCollection([data], "YX")
    norm = Normalizer([0.0], [1024.0])
    region = Region(0, 0, 20, 0, 32)
    sampler = CachedPatchSampler(collection, [region], norm, patch_size=8, batch_size=5,
                                 augment=False, rng=np.random.default_rng(0))  # fmt: skip
    x, y = sampler.sample()
    assert x.shape == (5, 1, 8, 8) and torch.equal(x, y) and x.data_ptr() != y.data_ptr()
    pixels = (x.numpy() * 1024).round().astype(int)
    rows, cols = pixels // 32, pixels % 32
    assert rows.max() < 20  # inside the region
    assert (np.diff(rows, axis=2) == 1).all() and (np.diff(cols, axis=3) == 1).all()


def test_a_sampler_with_strides_draws_a_phase_of_a_window_strides_times_a_patch():
    data = np.arange(40 * 60, dtype=np.float32).reshape(40, 60)
    collection = ImageCollection([data], "YX")
    sampler = CachedPatchSampler(collection, [Region(0, 0, 40, 0, 60)], Normalizer([0.0], [2400.0]),
                                 patch_size=8, batch_size=32, augment=False,
                                 rng=np.random.default_rng(0), strides=(2, 3))  # fmt: skip
    x, _ = sampler.sample()
    assert x.shape == (32, 1, 8, 8)
    pixels = (x.numpy() * 2400).round().astype(int)
    rows, cols = pixels // 60, pixels % 60
    assert (np.diff(rows, axis=2) == 2).all() and (np.diff(cols, axis=3) == 3).all()
    assert len({(r % 2, c % 3) for r, c in zip(rows[:, 0, 0, 0], cols[:, 0, 0, 0])}) > 3  # phases vary
    assert rows.max() < 40 and cols.max() < 60


def test_a_sampler_given_the_noise_replaces_hot_pixels():
    data = 0.5 + np.random.default_rng(0).normal(0, 0.01, (32, 32)).astype(np.float32)
    data[10:30:6, 12:30:5] = 5.0  # hot pixels, apart
    collection = ImageCollection([data], "YX")
    norm = Normalizer([0.0], [1.0])
    for noise, hottest in ((None, 5.0), (NoiseModel(0.0, 1e-4), 0.6)):
        sampler = CachedPatchSampler(collection, [Region(0, 0, 32, 0, 32)], norm, patch_size=16,
                                     batch_size=8, augment=False, rng=np.random.default_rng(1),
                                     noise=noise)  # fmt: skip
        x, _ = sampler.sample()
        assert float(x.max()) == pytest.approx(hottest, abs=0.1)


def test_a_sampler_for_thinned_pairs_replaces_pixels_too_dark_for_their_neighbours_photons():
    counts = np.random.default_rng(0).poisson(20.0, (32, 32)).astype(np.float32)
    dead = (slice(8, 28, 6), slice(9, 28, 5))
    counts[dead] = 0.0  # no photon where 20 are expected: missed by the deviations' rule
    collection = ImageCollection([counts / 20.0], "YX")
    found = {}
    for dark_outliers in (False, True):
        sampler = CachedPatchSampler(collection, [Region(0, 0, 32, 0, 32)], Normalizer([0.0], [1.0]),
                                     patch_size=32, batch_size=1, augment=False, rng=np.random.default_rng(1),
                                     noise=NoiseModel(1 / 20, 0.0), dark_outliers=dark_outliers)  # fmt: skip
        found[dark_outliers] = sampler.sample()[0].numpy()[0, 0][dead]
    assert (found[False] == 0).all() and (found[True] > 0.5).all()


def test_a_sampler_for_fine_tuning_on_pairs_gives_canvases_the_models_noise():
    noisy = 0.5 + np.random.default_rng(0).normal(0, 0.05, (48, 48)).astype(np.float32)
    collection = ImageCollection([np.pad(noisy, 24, constant_values=0.5)], "YX")  # a canvas at the median
    found = {}
    for flat_noise in (False, True):
        sampler = CachedPatchSampler(collection, [Region(0, 0, 24, 0, 96)], Normalizer([0.0], [1.0]),
                                     patch_size=24, batch_size=4, augment=False, rng=np.random.default_rng(1),
                                     noise=NoiseModel(0.0, 0.05**2), flat_noise=flat_noise)  # fmt: skip
        found[flat_noise] = sampler.sample()[0].numpy()[:, 0, :20]  # the canvas's top rows
    assert np.ptp(found[False]) == 0.0
    assert np.std(found[True]) == pytest.approx(0.05, rel=0.1)


def test_the_sample_for_the_normalisation_marks_canvases():
    noisy = np.random.default_rng(0).uniform(0.2, 0.6, (64, 64)).astype(np.float32)
    collection = ImageCollection([np.pad(noisy, 32, constant_values=1.0)], "YX")  # white, at the top
    sample, canvas = collection.sample_values(np.random.default_rng(0), canvases=True)
    np.testing.assert_array_equal(np.sort(sample[~canvas]), np.sort(noisy.reshape(-1)))
    fitted = Normalizer.fit(sample, leave_out=canvas)
    assert fitted.high[0] == pytest.approx(Normalizer.fit(noisy[None, None]).high[0])


def test_turns_are_the_eight_symmetries_of_the_square():
    patch = np.arange(2 * 16, dtype=np.float32).reshape(1, 2, 4, 4)
    for k in range(8):
        expected = torch.rot90(torch.from_numpy(patch), k % 4, dims=(-2, -1))
        if k >= 4:
            expected = expected.flip(-1)
        np.testing.assert_array_equal(_turn(patch, np.array([k])), expected.numpy())


def test_a_trainer_learns_from_a_collection_within_its_cache(tmp_path, tiny_config, blobs):
    data = blobs((4, 64, 64)) + 0.1 * np.random.default_rng(0).standard_normal((4, 64, 64))
    stored = _zarr(tmp_path, data.astype(np.float32), (1, 16, 16))
    collection = ImageCollection([stored], "ZYX", cache_mb=16 * 1024 / 2**20)  # 4 of 64 KiB
    trainer = Trainer(tiny_config(data={"axes": "ZYX"}), collection)
    for _ in trainer.run():
        assert collection._cached <= collection.cache_bytes
    model = trainer.result()
    assert len(trainer.history) == 2 and np.isfinite(trainer.best_loss)
    assert model.config.model.in_channels == 1 and collection.reads > 16  # blocks read again


@pytest.mark.parametrize(
    "training, message",
    [({"task": "superres", "mode": "zero-shot"}, "super-resolution"),
     ({"mode": "paired"}, "paired denoising")],  # fmt: skip
)
def test_tasks_that_need_all_the_data_are_refused(tiny_config, training, message):
    collection = ImageCollection([np.random.default_rng(0).random((32, 32))], "YX")
    model = {"architecture": "superres", "factor": 2} if "task" in training else {}
    config = tiny_config(model=model, training=training)
    with pytest.raises(ValueError, match=f"reads patches lazily, but {message}"):
        Trainer(config, collection)


def test_the_planned_shape_has_the_smallest_planes():
    collection = ImageCollection([np.zeros((3, 40, 50, 2)), np.zeros((1, 60, 30, 2))], "zyxc")
    assert collection.axes == "ZYXC" and collection.shape == (3, 40, 30, 2)
    assert collection.nbytes == 4 * (3 * 40 * 50 * 2 + 60 * 30 * 2)


def test_a_config_of_other_axes_is_refused(tiny_config):
    collection = ImageCollection([np.random.default_rng(0).random((2, 32, 32))], "ZYX")
    with pytest.raises(ValueError, match="axes 'YX' differ from the images' 'ZYX'"):
        Trainer(tiny_config(data={"axes": "YX"}), collection)


def test_a_pretrained_start_estimates_the_noise_from_the_collection(tmp_path, tiny_config, blobs):
    from napari_autoencoders.core.config import PRIOR_NETWORK

    noise = 0.1 * np.random.default_rng(0).standard_normal((3, 64, 64))
    stored = _zarr(tmp_path, (blobs((3, 64, 64)) + noise).astype(np.float32), (1, 32, 32))
    config = tiny_config(
        model=dict(PRIOR_NETWORK),
        data={"axes": "ZYX", "patch_size": 32},
        training={"pretrained": True, "learning_rate": 2e-4},
    )
    trainer = Trainer(config, ImageCollection([stored], "ZYX"))
    for _ in trainer.run():
        pass
    # the noise's variance on the normalised scale: 0.1 of a range of about 1.5
    assert 0.001 < trainer.config.model.noise_variance + trainer.config.model.noise_gain < 0.02
    model = trainer.config.model  # its patches' hot pixels are replaced with that noise model
    assert trainer.sampler.noise == NoiseModel(model.noise_gain, model.noise_variance)


def test_row_noise_in_a_collection_is_split_into_sets_of_columns_as_sampled(tmp_path, tiny_config):
    from scipy import ndimage as ndi
    from skimage import data as images

    from napari_autoencoders.core.config import PRIOR_NETWORK

    clean = images.camera()[::2, ::2][:192, :192] / 255.0
    white = np.random.default_rng(0).normal(0.0, 0.1, (2, 192, 192))
    noisy = clean + ndi.convolve1d(white, np.array([0.5, 1.0, 0.5]) / 1.5**0.5, axis=2)
    stored = _zarr(tmp_path, noisy.astype(np.float32), (1, 64, 64))
    config = tiny_config(
        model=dict(PRIOR_NETWORK),
        data={"axes": "ZYX", "patch_size": 32, "batch_size": 2},
        training={"pretrained": True, "learning_rate": 2e-4},
    )
    trainer = Trainer(config, ImageCollection([stored], "ZYX"))
    with pytest.warns(UserWarning, match="correlates along X .* 3 interleaved sets of columns"):
        for _ in trainer.run():
            pass
    assert trainer.config.model.noise_strides == (1, 3) and trainer.sampler.strides == (1, 3)
    # the noise, fitted on the sample's sets, is the white noise's: 0.1 on the normalised scale
    scale = np.subtract(*np.percentile(noisy, [99.8, 1.0]))
    assert trainer.config.model.noise_variance == pytest.approx((0.1 / scale) ** 2, rel=0.3)
    config.data.noise_strides = (2, 2)
    asked = Trainer(config, ImageCollection([stored], "ZYX"))
    asked.prepare()
    assert asked.config.model.noise_strides == (2, 2) and asked.sampler.strides == (2, 2)
    # Noise2Void from random weights, no noise model: measured, split where asked
    scratch = tiny_config(data={"axes": "ZYX", "patch_size": 32})
    measured = Trainer(scratch, ImageCollection([stored], "ZYX"))
    measured.prepare()
    assert measured.config.model.noise_strides == (1, 1) and measured.calibration.unused_strides == (1, 3)
    scratch.data.noise_strides = (1, 3)
    asked = Trainer(scratch, ImageCollection([stored], "ZYX"))
    asked.prepare()
    assert asked.config.model.noise_strides == (1, 3) and asked.sampler.strides == (1, 3)


def test_read_region_and_minimum_read_block_by_block(tmp_path):
    data = np.random.default_rng(1).random((40, 50)).astype(np.float32)
    data[37, 45] = -3.0
    collection = ImageCollection([_zarr(tmp_path, data, (16, 16))], "YX", cache_mb=1)
    np.testing.assert_array_equal(collection.read_region(0, 5, 37, 14, 20), data[None, 5:37, 14:20])
    assert collection.minimum(0) == -3.0
    assert collection.reads == 3 * 4  # every block once, the region's from the cache


def test_a_collections_channels_are_rescaled_as_an_arrays(tmp_path, tiny_config):
    from skimage import data, img_as_float32

    from napari_autoencoders.core.config import PRIOR_NETWORK
    from napari_autoencoders.core.data.noise import add_noise

    # one camera's counts in two channels, 10 and 100 photons at their brightest
    clean = img_as_float32(data.chelsea())[:128, :128, :2]
    noisy = np.stack([add_noise(clean[..., c], f"poisson:{peak}+gaussian:0.01", seed=c) * peak
                      for c, peak in enumerate((10, 100))], -1).astype(np.float32)

    def prepared(images):
        config = tiny_config(
            model=dict(PRIOR_NETWORK, in_channels=2, out_channels=2),
            data={"axes": "YXC", "patch_size": 32},
            training={"pretrained": True, "mode": "self-supervised"},
        )
        trainer = Trainer(config, images)
        trainer.prepare()
        return trainer

    lazy = prepared(ImageCollection([_zarr(tmp_path, noisy, (64, 64, 2))], "YXC"))
    whole = prepared(noisy)
    assert lazy.input_norm != Normalizer.fit(np.moveaxis(noisy, -1, 0)[None])  # rescaled
    np.testing.assert_allclose(lazy.input_norm.high, whole.input_norm.high, rtol=1e-3)
    np.testing.assert_allclose(lazy.input_norm.low, whole.input_norm.low, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(lazy.calibration.channel_weights, whole.calibration.channel_weights, rtol=1e-3)
