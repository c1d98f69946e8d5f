"""Tests for applying a model to whole images, tile by tile."""

import dataclasses
import itertools

import dask.array
import numpy as np
import pytest
import torch

from napari_autoencoders.core.config import Config, DataConfig, ModelConfig
from napari_autoencoders.core.nn.models import build_model
from napari_autoencoders.core.data.normalization import Normalizer
from napari_autoencoders.core.inference import prediction
from napari_autoencoders.core.inference.prediction import (
    _plane_groups,
    default_ensemble,
    symmetry_mean,
    iter_predict,
    output_shape,
    predict,
    predict_block,
)
from napari_autoencoders.core.model import TrainedModel


def untrained_model(channels=1, axes="YX", **model_options):
    """A fixed random network with distinct input and target normalisations."""
    torch.manual_seed(0)
    options = {"width": 8, "depth": 2, "in_channels": channels, "out_channels": channels}
    options.update(model_options)
    patch = options.get("input_size", 64)
    config = Config(model=ModelConfig(**options), data=DataConfig(axes=axes, patch_size=patch))
    if options.get("architecture") == "autoencoder":
        config.training.task = "reconstruct"
    if options.get("architecture") == "superres":
        config.training.task, config.training.mode = "superres", "from-highres"
    return TrainedModel(
        config=config.validate(),
        network=build_model(config.model).eval(),
        input_norm=Normalizer([10.0] * channels, [200.0] * channels),
        target_norm=Normalizer([-1.0] * channels, [3.0] * channels),
    )


def image_of(shape, seed=0):
    return np.random.default_rng(seed).uniform(10, 200, shape).astype(np.float32)


@pytest.mark.parametrize(
    ("axes", "shape", "channels"),
    [
        ("YX", (37, 45), 1),
        ("SYX", (2, 37, 45), 1),
        ("YXC", (37, 45, 2), 2),
        ("CYX", (2, 37, 45), 2),
    ],
)
def test_output_has_the_shape_and_axes_of_the_input(axes, shape, channels):
    model = untrained_model(channels)
    image = image_of(shape)
    result = predict(model, image, axes=axes, tile=32, overlap=8, device="cpu")
    assert result.shape == shape and result.dtype == np.float32
    if axes == "YXC":  # channels stay in place: the channel-first prediction, moved
        channel_first = predict(
            model, np.moveaxis(image, -1, 0), axes="CYX", tile=32, overlap=8, device="cpu"
        )
        np.testing.assert_allclose(result, np.moveaxis(channel_first, 0, -1), atol=1e-5)


def test_stack_planes_are_predicted_independently_in_order():
    model = untrained_model()
    stack = image_of((3, 30, 30))
    result = predict(model, stack, axes="SYX", device="cpu")
    for index in range(3):
        single = predict(model, stack[index], axes="YX", device="cpu")
        np.testing.assert_allclose(result[index], single, atol=1e-5)


def test_axes_default_to_the_training_axes():
    model = untrained_model(axes="SYX")
    assert predict(model, image_of((2, 20, 20)), device="cpu").shape == (2, 20, 20)


def test_one_tile_equals_a_direct_forward_pass():
    model = untrained_model()
    image = image_of((37, 45))
    result = predict(model, image, tile=64, device="cpu", ensemble=False)
    planes = model.input_norm.normalize(image[np.newaxis, np.newaxis])
    with torch.no_grad():
        direct = model.network(torch.from_numpy(planes)).numpy()
    np.testing.assert_allclose(result, model.target_norm.denormalize(direct)[0, 0], atol=1e-5)


def test_small_tiles_blend_close_to_one_tile(blobs):
    model = untrained_model()
    image = 10 + 190 * blobs((64, 80))
    whole = predict(model, image, tile=128, device="cpu")
    tiled = predict(model, image, tile=32, overlap=16, device="cpu")
    # only the context at tile borders differs, and the blending spreads it out
    assert np.abs(tiled - whole).mean() < 0.05 * whole.std()
    assert np.abs(tiled - whole).max() < 0.5 * whole.std()


def test_wrong_channel_count_raises():
    with pytest.raises(ValueError, match="1-channel images .* 3 channel"):
        predict(untrained_model(), image_of((20, 20, 3)), axes="YXC")


def test_wrong_axes_raise():
    with pytest.raises(ValueError, match="dimensions"):
        predict(untrained_model(), image_of((2, 20, 20)), axes="YX")


def test_nan_input_raises():
    image = image_of((20, 20))
    image[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        predict(untrained_model(), image)


def test_generator_yields_progress_and_returns_the_result(run_to_end):
    model = untrained_model()
    stack = image_of((2, 40, 40))
    progress, result = run_to_end(
        iter_predict(model, stack, axes="SYX", tile=32, overlap=8, batch_size=3, device="cpu")
    )
    # 2 x 2 tiles per plane, batches of at most 3 tiles within one grid row
    assert progress == [(2, 8), (4, 8), (6, 8), (8, 8)]
    expected = predict(model, stack, axes="SYX", tile=32, overlap=8, device="cpu")
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_memmap_input(tmp_path):
    model = untrained_model()
    image = image_of((40, 50))
    stored = np.memmap(tmp_path / "image.raw", dtype=np.float32, mode="w+", shape=image.shape)
    stored[:] = image
    stored.flush()
    mapped = np.memmap(tmp_path / "image.raw", dtype=np.float32, mode="r", shape=image.shape)
    result = predict(model, mapped, tile=32, overlap=8, device="cpu")
    assert isinstance(result, np.ndarray) and result.shape == image.shape
    np.testing.assert_allclose(result, predict(model, image, tile=32, overlap=8, device="cpu"), atol=1e-6)


def test_uint16_input():
    model = untrained_model()
    image = image_of((30, 30)).astype(np.uint16)
    result = predict(model, image, device="cpu")
    np.testing.assert_allclose(result, predict(model, image.astype(np.float32), device="cpu"), atol=1e-5)


def test_autoencoder_uses_tiles_of_its_input_size():
    model = untrained_model(axes="SYX", architecture="autoencoder", input_size=28, depth=2)
    frames = image_of((2, 28, 28))
    result = predict(model, frames, tile=256, device="cpu")
    assert result.shape == frames.shape
    with torch.no_grad():
        planes = torch.from_numpy(model.input_norm.normalize(frames[:, np.newaxis]))
        direct = model.network(planes).numpy()
    np.testing.assert_allclose(result, model.target_norm.denormalize(direct)[:, 0], atol=1e-5)


def test_autoencoder_rejects_images_smaller_than_its_input():
    model = untrained_model(axes="SYX", architecture="autoencoder", input_size=28, depth=2)
    with pytest.raises(ValueError, match="28x28 tiles"):
        predict(model, image_of((2, 20, 30)))


@pytest.mark.parametrize(("axes", "shape"), [("YX", (40, 50)), ("SYXC", (2, 40, 50, 2))])
def test_out_memmap_is_written_in_place(tmp_path, axes, shape, run_to_end):
    model = untrained_model(shape[-1] if "C" in axes else 1, axes=axes)
    image = image_of(shape)
    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.float32, shape=shape)
    _, result = run_to_end(iter_predict(model, image, tile=32, overlap=8, device="cpu", out=out))
    assert result is out
    out.flush()
    expected = predict(model, image, tile=32, overlap=8, device="cpu")
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-6)


def test_a_memmap_of_tczyx_with_channels_is_read_and_written_in_place(tmp_path):
    model = untrained_model(2, axes="TCZYX")
    image = image_of((2, 2, 3, 40, 48))
    np.save(tmp_path / "in.npy", image)
    mapped = np.load(tmp_path / "in.npy", mmap_mode="r")  # its planes are not one view: not copied
    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.float32, shape=image.shape)
    assert predict(model, mapped, tile=32, overlap=8, device="cpu", out=out) is out
    out.flush()
    for t, z in itertools.product(range(2), range(3)):
        plane = predict(model, image[t, :, z], axes="CYX", tile=32, overlap=8, device="cpu")
        np.testing.assert_allclose(np.load(tmp_path / "out.npy")[t, :, z], plane, atol=1e-5)
    mean = prediction._planes_mean(prediction.plane_view(mapped, "TCZYX"))  # shared defects' mean
    np.testing.assert_allclose(mean, image.mean(axis=(0, 2)), rtol=1e-6)


def test_out_of_the_wrong_shape_raises():
    with pytest.raises(ValueError, match=r"out must have the result's shape \(40, 50\)"):
        predict(untrained_model(), image_of((40, 50)), out=np.empty((40, 51), np.float32))


@pytest.mark.parametrize(
    ("axes", "shape"), [("YX", (40, 50)), ("SYX", (3, 40, 50)), ("YXC", (40, 50, 2))]
)
def test_output_shape_is_the_predicted_shape(axes, shape):
    model = untrained_model(shape[-1] if "C" in axes else 1, axes=axes)
    assert output_shape(model, shape, axes) == shape


class CountingArray:
    """A lazy array that records the size of every read and refuses to be loaded whole."""

    def __init__(self, array):
        self.array, self.shape, self.dtype, self.ndim = array, array.shape, array.dtype, array.ndim
        self.reads = []

    def __getitem__(self, key):
        values = self.array[key]
        self.reads.append(values.size)
        return values

    def __array__(self, *args, **kwargs):
        raise AssertionError("the lazy image was loaded whole")


@pytest.mark.parametrize(("axes", "shape"), [("SYX", (2, 256, 256)), ("YXC", (256, 256, 2))])
def test_zarr_input_and_output_are_read_and_written_tile_by_tile(tmp_path, axes, shape):
    import zarr

    channels = shape[-1] if "C" in axes else 1
    model = untrained_model(channels=channels, axes=axes)
    image = image_of(shape)
    stored = zarr.create_array(str(tmp_path / "in.zarr"), shape=shape, chunks=(64,) * 3, dtype="f4")
    stored[:] = image
    lazy = CountingArray(stored)
    out = zarr.create_array(str(tmp_path / "out.zarr"), shape=shape, chunks=(64,) * 3, dtype="f4")
    predict(model, lazy, tile=64, overlap=16, ensemble=False, out=out)
    np.testing.assert_allclose(out[:], predict(model, image, tile=64, overlap=16, ensemble=False), atol=1e-5)
    assert max(lazy.reads) <= 64 * 64 * channels  # one tile at a time


class ChunkedRecorder:
    """A (Y, X) output with zarr-like ``chunks`` that records the rows of every write."""

    def __init__(self, shape, chunks):
        self.data, self.chunks, self.writes = np.zeros(shape, np.float32), chunks, []
        self.shape, self.dtype, self.ndim = shape, self.data.dtype, len(shape)

    def __setitem__(self, key, values):
        self.writes.append((key[0].start, key[0].stop))
        self.data[key] = values


def test_a_chunked_output_is_written_a_whole_row_of_chunks_at_a_time():
    model = untrained_model()
    image = image_of((150, 90))
    out = ChunkedRecorder(image.shape, (64, 32))
    predict(model, image, tile=32, overlap=8, out=out)  # bands of about 24 rows
    assert out.writes == [(0, 64), (64, 128), (128, 150)]
    np.testing.assert_array_equal(out.data, predict(model, image, tile=32, overlap=8))


class ChunkedInput(CountingArray):
    """A lazy array with zarr-like ``chunks``, read whole chunk by whole chunk as zarr does."""

    def __init__(self, array, chunks):
        super().__init__(array)
        self.chunks = chunks


def test_a_chunked_input_decodes_each_chunk_once_per_row_of_tiles():
    model = untrained_model()
    image = image_of((128, 192))
    chunked = ChunkedInput(image, (64, 64))
    options = {"tile": 32, "overlap": 8, "ensemble": False}
    result = predict(model, chunked, **options)
    np.testing.assert_allclose(result, predict(model, image, **options), atol=1e-6)
    assert len(chunked.reads) == 6  # each of the 2 x 3 chunks once, not once per tile
    location = [(60, 100), (0, 64)]
    block = predict_block(model, ChunkedInput(image, (64, 64)), location, axes="YX", **options)
    np.testing.assert_allclose(block, result[60:100, :64], atol=1e-5)


def test_nan_in_a_lazy_input_is_found_in_its_tile_which_the_message_names():
    model = untrained_model(axes="SYX")
    image = image_of((2, 128, 128))
    image[1, 100, 5] = np.nan
    out = np.zeros(image.shape, np.float32)
    message = r"the input image's tile at Y=72, X=0 of plane S=1 has 1 NaN"
    with pytest.raises(ValueError, match=message):
        predict(model, CountingArray(image), tile=64, overlap=16, out=out)
    assert out[0].any() and not out[1, 72:].any()  # written up to that tile's row, as documented
    with pytest.raises(ValueError, match=r"the input image's tile at Y=72, X=0 has 1 NaN"):
        predict(untrained_model(), CountingArray(image[1]), tile=64, overlap=16)


@pytest.mark.parametrize(
    ("axes", "shape", "chunks", "factor"),
    [
        ("YX", (100, 90), (40, 32), 1),
        ("SYX", (3, 70, 64), (2, 32, 64), 1),
        ("YXC", (64, 50, 2), (24, 40, 2), 1),
        ("YX", (50, 40), (32, 32), 2),
    ],
)
def test_blocks_computed_apart_fit_together_into_the_prediction(axes, shape, chunks, factor):
    channels = shape[-1] if "C" in axes else 1
    options = {"architecture": "superres", "factor": factor} if factor > 1 else {}
    model = untrained_model(channels=channels, axes=axes, **options)
    image = image_of(shape)
    expected = predict(model, image, tile=32, overlap=8)
    result = np.zeros_like(expected)
    for block in itertools.product(*(range(0, n, c) for n, c in zip(expected.shape, chunks))):
        ends = zip(block, chunks, expected.shape)
        location = [(start, min(start + c, n)) for start, c, n in ends]
        where = tuple(slice(*span) for span in location)
        result[where] = predict_block(model, image, location, axes=axes, tile=32, overlap=8)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


def test_an_empty_lazy_input_is_refused_before_reading():
    with pytest.raises(ValueError, match="empty"):
        predict(untrained_model(axes="SYX"), CountingArray(np.zeros((0, 32, 32), np.float32)))


def test_a_block_reads_only_its_tiles_and_checks_their_values():
    model, image = untrained_model(), image_of((128, 128))
    lazy = CountingArray(image)
    block = predict_block(model, lazy, [(0, 32), (0, 32)], axes="YX", tile=32, overlap=8)
    assert block.shape == (32, 32) and sum(lazy.reads) <= 4 * 32 * 32
    image[100, 100] = np.nan  # outside this block's tiles: unseen
    predict_block(model, image, [(0, 32), (0, 32)], axes="YX", tile=32, overlap=8)
    with pytest.raises(ValueError, match="the input image's tile at Y=72, X=72 has 1 NaN"):
        predict_block(model, image, [(96, 128), (96, 128)], axes="YX", tile=32, overlap=8)


def volume_model(axes="ZYX"):
    return untrained_model(axes=axes, spatial_dims=3)


@pytest.mark.parametrize(("axes", "shape"), [("ZYX", (7, 30, 26)), ("TZYX", (2, 5, 20, 18))])
def test_3d_model_predicts_volumes_of_the_input_shape(axes, shape):
    image = image_of(shape)

    result = predict(volume_model(), image, axes=axes, device="cpu")

    assert result.shape == shape and result.dtype == np.float32
    if axes == "TZYX":  # each time point is a volume of its own
        np.testing.assert_allclose(result[1], predict(volume_model(), image[1], device="cpu"), atol=1e-5)


def test_nan_in_a_lazy_input_of_a_3d_model_is_refused():
    volume = image_of((6, 20, 18))
    volume[3, 10, 4] = np.nan
    with pytest.raises(ValueError, match="the input image's volume has 1 NaN"):
        predict(volume_model(), dask.array.from_array(volume, chunks=(2, 10, 9)), device="cpu")
    stack = dask.array.from_array(np.stack([image_of((6, 20, 18)), volume]), chunks=(1, 2, 10, 9))
    with pytest.raises(ValueError, match="the input image's volume T=1 has 1 NaN"):
        predict(volume_model("TZYX"), stack, device="cpu")


class LoggedArray:
    """A lazy array whose reads and writes are logged, as ("read" or "write", first index), in ``log``."""

    def __init__(self, array, log):
        self.array, self.log = array, log
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, key):
        self.log.append(("read", key[0]))
        return self.array[key]

    def __setitem__(self, key, values):
        self.log.append(("write", key[0]))
        self.array[key] = values

    def __array__(self, *args, **kwargs):
        raise AssertionError("the lazy image was loaded whole")


def test_a_3d_model_reads_predicts_and_writes_one_volume_at_a_time():
    model = untrained_model(2, axes="TZCYX", spatial_dims=3)
    image, log = image_of((2, 4, 2, 16, 16)), []
    out = LoggedArray(np.zeros(image.shape, np.float32), log)
    predict(model, LoggedArray(image, log), out=out, device="cpu")
    assert log == [("read", 0), ("write", 0), ("read", 1), ("write", 1)]
    for t in range(2):  # each time point a volume, its channels in place
        volume = predict(model, np.moveaxis(image[t], 1, 0), axes="CZYX", device="cpu")
        np.testing.assert_allclose(out.array[t], np.moveaxis(volume, 0, 1), atol=1e-5)


def test_3d_boxes_blend_close_to_one_box(blobs):
    image = 10 + 190 * blobs((40, 48, 48))
    model = volume_model()
    whole = predict(model, image, tile=48, device="cpu")  # 2 boxes in Z (at most 32 planes)

    boxed = predict(model, image, tile=24, overlap=12, device="cpu")  # 2 x 3 x 3 boxes

    # only the context at box borders differs, and the blending spreads it out (a 3D
    # network's context reaches across more borders than a 2D one's: looser bounds)
    assert np.abs(boxed - whole).mean() < 0.1 * whole.std()
    assert np.abs(boxed - whole).max() < whole.std()


def test_3d_model_on_an_image_without_z_is_refused_before_writing(tmp_path):
    out = np.full((3, 20, 20), 7.0, np.float32)

    with pytest.raises(ValueError, match="3D model.*axes 'SYX' have no Z"):
        predict(volume_model(), image_of((3, 20, 20)), axes="SYX", out=out)
    assert (out == 7.0).all()


def test_3d_model_writes_into_out_and_refuses_a_wrong_one():
    image = image_of((4, 16, 16))
    out = np.zeros((4, 16, 16), np.float32)

    assert predict(volume_model(), image, out=out, device="cpu") is out
    np.testing.assert_allclose(out, predict(volume_model(), image, device="cpu"))
    with pytest.raises(ValueError, match="out must have the result's shape"):
        predict(volume_model(), image, out=np.zeros((4, 16, 15), np.float32))


def test_3d_model_refuses_blocks_apart():
    with pytest.raises(ValueError, match="3D model predicts whole volumes"):
        predict_block(volume_model(), image_of((4, 16, 16)), [(0, 4), (0, 8), (0, 8)], axes="ZYX")


def test_symmetry_mean_undoes_each_rotation_and_flip():
    def ramp(view):  # adds a ramp along X: each orientation puts it elsewhere
        return view + torch.arange(view.shape[-1], dtype=view.dtype)

    x = torch.rand(2, 1, 6, 6)
    mean = symmetry_mean(ramp, x)
    # the 8 ramps, turned back, average to their mean value everywhere
    torch.testing.assert_close(mean, x + 2.5)
    # an equivariant network is unchanged: an untrained upscaler is bicubic interpolation
    upscaler = build_model(ModelConfig(architecture="superres", factor=2, width=8, blocks=1)).eval()
    x = torch.rand(1, 1, 7, 9)
    with torch.inference_mode():
        torch.testing.assert_close(symmetry_mean(upscaler, x), upscaler(x), atol=1e-5, rtol=0)


def test_symmetry_mean_stops_between_orientations_once_asked():
    from napari_autoencoders.core.progress import Cancelled, stoppable

    seen = []

    def network(view):
        seen.append(view.shape)
        return view

    with stoppable(lambda: len(seen) >= 3), pytest.raises(Cancelled):
        symmetry_mean(network, torch.rand(1, 1, 4, 4))
    assert len(seen) == 3


def test_a_superres_model_averages_the_8_orientations_unless_told_not_to():
    model = untrained_model(architecture="superres", factor=2, blocks=1)
    torch.nn.init.normal_(model.network.tail.weight, std=0.1)  # not equivariant any more
    image = image_of((24, 20))
    plain = predict(model, image, ensemble=False, tile=64)
    averaged = predict(model, image, tile=64)
    expected, single = _averaged(model, image)
    np.testing.assert_allclose(averaged, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(plain, single, rtol=1e-4, atol=1e-4)
    assert not np.allclose(plain, averaged, atol=1e-3)


def _averaged(model, image):
    """``model`` on ``image`` in one tile, averaged over the 8 orientations and alone."""
    x = torch.from_numpy(model.input_norm.normalize(image[None, None]))
    with torch.inference_mode():
        mean = model.target_norm.denormalize(symmetry_mean(model.network, x).numpy())[0, 0]
        single = model.target_norm.denormalize(model.network(x).numpy())[0, 0]
    return mean, single


def test_a_denoising_model_averages_the_8_orientations_up_to_a_size(monkeypatch):
    model = untrained_model()
    image = image_of((32, 32))
    mean, single = _averaged(model, image)
    assert not np.allclose(mean, single, atol=1e-3)  # a random U-Net is not equivariant
    np.testing.assert_allclose(predict(model, image, tile=64), mean, rtol=1e-4, atol=1e-4)
    monkeypatch.setattr(prediction, "ENSEMBLE_VALUES", image.size - 1)  # a larger input
    np.testing.assert_allclose(predict(model, image, tile=64), single, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(predict(model, image, tile=64, ensemble=True), mean, atol=1e-4)


def test_the_size_that_decides_the_ensemble_is_the_whole_input():
    model = untrained_model()
    assert default_ensemble(model, (2048, 2048))
    assert not default_ensemble(model, (2, 2048, 2048))  # a stack: 8 times its time is minutes
    assert default_ensemble(untrained_model(architecture="superres", factor=2), (4, 4096, 4096))


def test_latent_and_3d_models_never_average_orientations_by_default():
    model = untrained_model(architecture="autoencoder", input_size=16, latent_dim=2)
    assert not default_ensemble(model, (16, 16))
    assert not default_ensemble(volume_model(), (8, 16, 16))


def test_a_model_of_correlated_noise_predicts_each_phase_apart():
    from napari_autoencoders.core.data.correlation import from_phases, to_phases

    image = image_of((37, 45))
    model = untrained_model(noise_strides=(1, 3))
    result = predict(model, image, axes="YX", tile=64, device="cpu")
    whole = dataclasses.replace(model.config.model, noise_strides=(1, 1))
    plain = dataclasses.replace(model, config=dataclasses.replace(model.config, model=whole))
    phases = to_phases(image[None, None], (1, 3))
    each = np.stack([predict(plain, phase[0], axes="YX", tile=64, device="cpu") for phase in phases])
    assert np.allclose(result, from_phases(each[:, None], (1, 3), image.shape)[0, 0], atol=1e-5)


def test_only_a_model_with_a_noise_model_replaces_hot_and_dead_pixels():
    tiles = np.random.default_rng(2).normal(0.5, 0.01, (2, 1, 32, 32)).astype(np.float32)
    tiles[1, 0, 20, 30] = 5.0  # normalised: far above its neighbours
    tiles[0, 0, 8, 5] = -0.5  # and far below
    kept = prediction._defect_filler(untrained_model())(tiles)
    assert kept is tiles
    prior_like = untrained_model(residual=True, noise_gain=0.001, noise_variance=1e-4)
    replaced = prediction._defect_filler(prior_like)(tiles)
    for b, y, x in ((1, 20, 30), (0, 8, 5)):
        ring = np.delete(tiles[b, 0, y - 1:y + 2, x - 1:x + 2].ravel(), 4)
        assert ring.min() <= replaced[b, 0, y, x] <= ring.max()
    elsewhere = np.ones(tiles.shape, bool)
    elsewhere[1, 0, 20, 30] = elsewhere[0, 0, 8, 5] = False
    assert np.array_equal(replaced[elsewhere], tiles[elsewhere])


def test_a_denoising_model_keeps_a_canvas_and_predicts_beside_it_from_mirrored_content():
    model = untrained_model()
    image = image_of((40, 48))
    padded = np.pad(image, 12)  # a canvas of 0
    out = predict(model, padded, axes="YX", tile=64, device="cpu")
    kept = model.target_norm.denormalize(model.input_norm.normalize(np.zeros((1, 1, 1, 1), np.float32)))
    assert np.allclose(out[:12], kept.item()) and np.allclose(out[:, -12:], kept.item())
    mirrored = predict(model, np.pad(image, 12, mode="reflect"), axes="YX", tile=64, device="cpu")
    assert np.allclose(out[12:-12, 12:-12], mirrored[12:-12, 12:-12], atol=1e-5)


class _Constant(torch.nn.Module):
    """Another tool's network (``foreign``): a map of 0.5 on one output channel."""

    foreign = True

    def forward(self, x):
        return torch.full_like(x[:, :1], 0.5)


@pytest.mark.parametrize("channels", [1, 3])
def test_another_tools_network_predicts_a_canvas_too(channels):
    model = untrained_model(channels, axes="YXC" if channels > 1 else "YX", out_channels=1)
    model = dataclasses.replace(model, network=_Constant(), target_norm=Normalizer([0.0], [1.0]))
    image = image_of((40, 48, channels) if channels > 1 else (40, 48))
    image[:, :16] = 0.0  # a canvas: the network's output there too, not the input
    out = predict(model, image, axes=model.config.data.axes, tile=32, overlap=8, device="cpu")
    assert np.allclose(out, 0.5)


@pytest.mark.parametrize("which", ["autoencoder", "superres"])
def test_canvases_are_searched_only_for_denoising(monkeypatch, which):
    def refused(planes):
        raise AssertionError("searched for a canvas")

    monkeypatch.setattr(prediction, "canvas_mask", refused)
    image = np.pad(image_of((40, 48)), 12)
    if which == "autoencoder":
        model = untrained_model(architecture="autoencoder", input_size=28, depth=2)
    else:
        model = untrained_model(architecture="superres", factor=2, blocks=1)
    assert np.isfinite(predict(model, image, axes="YX", tile=64, device="cpu")).all()


def test_a_canvas_read_tile_by_tile_is_kept_and_mirrored_as_in_memory(tmp_path):
    model = untrained_model()
    image = np.pad(image_of((100, 120)), 30)  # a canvas of 0, beside content in every tile
    expected = predict(model, image, axes="YX", tile=64, overlap=16, device="cpu")
    np.save(tmp_path / "image.npy", image)
    mapped = np.load(tmp_path / "image.npy", mmap_mode="r")
    for source in (mapped, ChunkedInput(image, (48, 48))):
        result = predict(model, source, axes="YX", tile=64, overlap=16, device="cpu")
        np.testing.assert_allclose(result, expected, atol=1e-5)
    block = predict_block(model, mapped, [(20, 90), (0, 70)], axes="YX", tile=64, overlap=16)
    np.testing.assert_allclose(block, expected[20:90, :70], atol=1e-5)
    kept = model.target_norm.denormalize(model.input_norm.normalize(np.zeros((1, 1, 1, 1), np.float32)))
    assert np.allclose(expected[:30], kept.item()) and np.allclose(block[:10], kept.item())
    mirrored = np.pad(image[30:-30, 30:-30], 30, mode="reflect")
    beside = predict(model, mirrored, axes="YX", tile=64, overlap=16, device="cpu")[30:-30, 30:-30]
    np.testing.assert_allclose(expected[30:-30, 30:-30], beside, atol=1e-5)


def test_a_3d_denoising_model_keeps_a_canvas_of_each_plane():
    model = volume_model()
    volume = image_of((8, 40, 48))
    padded = np.pad(volume, ((0, 0), (12, 12), (12, 12)))
    out = predict(model, padded, axes="ZYX", tile=64, device="cpu")
    kept = model.target_norm.denormalize(model.input_norm.normalize(np.zeros((1, 1, 1, 1), np.float32)))
    assert np.allclose(out[:, :12], kept.item()) and np.allclose(out[:, :, -12:], kept.item())
    mirrored = np.pad(volume, ((0, 0), (12, 12), (12, 12)), mode="reflect")
    expected = predict(model, mirrored, axes="ZYX", tile=64, device="cpu")
    assert np.allclose(out[:, 12:-12, 12:-12], expected[:, 12:-12, 12:-12], atol=1e-5)


def _stack_with_a_shared_defect(gain):
    """Eight noisy planes (8, 40, 48) of a flat scene, a pixel 5 noise deviations too bright in each."""
    noise = np.random.default_rng(0).normal(0, 190 * (gain * 0.5) ** 0.5, (8, 40, 48))
    spoilt = (105.0 + noise).astype(np.float32)
    spoilt[:, 12, 30] += 190 * 5 * (gain * 0.5) ** 0.5  # a plane alone keeps it
    spoilt[:, 0, 47] += 190 * 5 * (gain * 0.5) ** 0.5  # and at a corner
    return spoilt


@pytest.mark.parametrize("axes", ["SYX", "ZYX"])
def test_a_dim_defect_that_every_plane_shares_is_replaced_before_prediction(axes):
    from napari_autoencoders.core.data.defects import fill_fixed

    gain = 0.002  # on the model's scale: image_of's values 10 to 200 are -0.05 to 0.95
    model = untrained_model(axes=axes, residual=True, noise_gain=gain, noise_variance=1e-5)
    spoilt = _stack_with_a_shared_defect(gain)
    assert prediction.shared_defects(model, spoilt, axes).tolist() == [[0, 0, 47], [0, 12, 30]]
    fixed = np.zeros((1, 40, 48), bool)
    fixed[0, 12, 30] = fixed[0, 0, 47] = True
    filled = fill_fixed(spoilt[:, None], fixed)[:, 0]
    result = predict(model, spoilt, axes=axes, tile=32, overlap=8, device="cpu")
    np.testing.assert_allclose(result, predict(model, filled, axes=axes, tile=32, overlap=8, device="cpu"), atol=1e-5)
    alone = predict(model, spoilt[0], axes="YX", tile=64, device="cpu")
    assert not np.allclose(alone, predict(model, filled[0], axes="YX", tile=64, device="cpu"), atol=1e-3)
    lazy = ChunkedInput(spoilt, (2, 40, 24))  # none before: a lazy input's result differed
    assert prediction.shared_defects(model, lazy, axes).tolist() == [[0, 0, 47], [0, 12, 30]]
    np.testing.assert_allclose(predict(model, lazy, axes=axes, tile=32, overlap=8, device="cpu"), result, atol=1e-5)
    assert len(prediction.shared_defects(untrained_model(axes=axes), spoilt, axes)) == 0  # no noise model


def test_blocks_computed_apart_replace_the_defects_their_planes_share():
    gain = 0.002
    model = untrained_model(axes="SYX", residual=True, noise_gain=gain, noise_variance=1e-5)
    spoilt = _stack_with_a_shared_defect(gain)
    expected = predict(model, spoilt, axes="SYX", tile=32, overlap=8, ensemble=False, device="cpu")
    defects = prediction.shared_defects(model, spoilt, "SYX")
    result = np.zeros_like(expected)
    for y, x in itertools.product(range(0, 40, 13), range(0, 48, 17)):  # blocks cut through tiles
        location = [(0, 8), (y, min(y + 13, 40)), (x, min(x + 17, 48))]
        where = tuple(slice(*span) for span in location)
        options = dict(axes="SYX", tile=32, overlap=8, ensemble=False, defects=defects)
        result[where] = predict_block(model, spoilt, location, **options)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("clip_high", [None, 200.0])
def test_a_region_at_a_model_s_clip_level_is_data_even_in_a_tile_wholly_within_it(clip_high):
    options = {"noise_variance": 1e-3} if clip_high is None else {"noise_variance": 1e-3, "clip_high": clip_high}
    model = untrained_model(residual=True, **options)
    image = np.minimum(image_of((96, 96)), 199.0)
    image[:64, :64] = 200.0  # saturated: larger than a tile
    out = predict(model, image, axes="YX", tile=32, overlap=8, device="cpu")
    kept = model.target_norm.denormalize(model.input_norm.normalize(np.full((1, 1, 1, 1), 200.0, np.float32)))
    assert np.allclose(out[8:24, 8:24], kept.item()) == (clip_high is None)  # a canvas unless clipped data


def test_a_model_of_photon_counts_declips_its_predictions_at_the_high_level_alone():
    # the target scale maps the data's 0 and 1 to 0.25 and 0.5 (Normalizer -1 to 3)
    model = untrained_model(residual=True, noise_gain=0.005, noise_variance=1e-4, clip_low=0.0, clip_high=1.0)
    normalised = np.array([0.25, 0.26, 0.3, 0.48, 0.5], dtype=np.float32)[None, None]  # (B, C, X)
    declipped = prediction._declipper(model)(normalised)[0, 0]
    np.testing.assert_allclose(declipped[:3], normalised[0, 0, :3], atol=1e-3)  # zero photons: no bias
    assert normalised[0, 0, 3] < declipped[3] <= declipped[4] <= 0.5  # pulled up to the clip level, no further


def test_a_dask_input_computes_each_chunk_about_once():
    image = image_of((128, 128))
    computed = []

    def record(block, block_info=None):
        if block_info:
            computed.append(block_info[0]["chunk-location"])
        return block

    lazy = dask.array.from_array(image, chunks=(64, 64)).map_blocks(record, dtype=image.dtype)
    model = untrained_model()
    options = {"tile": 16, "overlap": 4, "ensemble": False, "device": "cpu"}
    result = predict(model, lazy, **options)  # 144 computes before
    np.testing.assert_allclose(result, predict(model, image, **options), atol=1e-6)
    assert len(computed) <= 8 and len(set(computed)) == 4


def test_planes_that_share_chunks_are_tiled_side_by_side_each_chunk_decoded_once():
    model = untrained_model(axes="SYX")
    image = image_of((7, 256, 96))
    chunked = ChunkedInput(image, (3, 64, 64))  # chunks of 3 planes: planes 0-2, 3-5 and 6
    result = predict(model, chunked, axes="SYX", tile=32, overlap=8, ensemble=False)
    np.testing.assert_allclose(result, predict(model, image, tile=32, overlap=8, ensemble=False), atol=1e-6)
    assert len(chunked.reads) == 3 * 4 * 2  # each chunk once, not once per plane (7 x 4 x 2)


@pytest.mark.parametrize(
    ("stack_shape", "depth", "groups"),
    [
        ((7,), 3, [[0, 1, 2], [3, 4, 5], [6]]),
        ((2, 3), 2, [[0, 1], [2], [3, 4], [5]]),  # runs stay within one position of the first axis
        ((), 4, [[0]]),
    ],
)
def test_plane_groups_follow_the_chunks_of_the_last_stack_axis(stack_shape, depth, groups):
    assert [list(group) for group in _plane_groups(stack_shape, depth)] == groups


class StackRecorder(ChunkedRecorder):
    """A (S, Y, X) output with zarr-like ``chunks`` that records the planes and rows of every write."""

    def __setitem__(self, key, values):
        self.writes.append(((key[0].start, key[0].stop), (key[1].start, key[1].stop)))
        self.data[key] = values


def test_a_stack_chunked_across_planes_is_written_a_whole_chunk_at_a_time():
    model = untrained_model(axes="SYX")
    image = image_of((5, 150, 90))
    out = StackRecorder(image.shape, (3, 64, 32))
    predict(model, image, tile=32, overlap=8, ensemble=False, out=out)  # a NumPy input: the output decides
    assert out.writes == [
        ((0, 3), (0, 64)), ((0, 3), (64, 128)), ((0, 3), (128, 150)),
        ((3, 5), (0, 64)), ((3, 5), (64, 128)), ((3, 5), (128, 150)),
    ]  # fmt: skip
    np.testing.assert_array_equal(out.data, predict(model, image, tile=32, overlap=8, ensemble=False))


def test_a_block_of_planes_that_share_chunks_decodes_each_chunk_once():
    model = untrained_model(axes="SYX")
    image = image_of((3, 256, 256))
    chunked = ChunkedInput(image, (3, 32, 64))
    location = [(0, 3), (64, 192), (0, 64)]
    block = predict_block(model, chunked, location, axes="SYX", tile=32, overlap=8, ensemble=False)
    expected = predict(model, image, tile=32, overlap=8, ensemble=False)[:, 64:192, :64]
    np.testing.assert_allclose(block, expected, atol=1e-5)
    assert len(chunked.reads) == 6 * 2  # the chunks its tiles touch, each once (not per plane)


def test_planes_tiled_side_by_side_for_a_deeper_output_read_each_input_chunk_once():
    import zarr

    model = untrained_model(axes="SYX")
    image = image_of((4, 256, 96))
    chunked = ChunkedInput(image, (1, 64, 64))  # one plane per chunk; the output's hold four
    out = zarr.create_array(zarr.storage.MemoryStore(), shape=image.shape, chunks=(4, 64, 64), dtype="f4")
    predict(model, chunked, axes="SYX", tile=32, overlap=8, ensemble=False, out=out)
    np.testing.assert_allclose(out[:], predict(model, image, tile=32, overlap=8, ensemble=False), atol=1e-5)
    assert len(chunked.reads) == 4 * 4 * 2  # each chunk once, as one plane at a time read them


@pytest.mark.parametrize(
    ("in_chunks", "out_chunks", "budget", "expected"),
    [
        ((16, 64, 64), None, 2**30, 16),
        (None, (4, 64, 64), 2**30, 4),
        ((16, 64, 64), None, 5, 4),  # cut to a divisor of 16 within the budget, not 5
        (None, None, 2**30, 1),
    ],
)
def test_planes_side_by_side_follow_the_deepest_chunks_within_the_budget(
    monkeypatch, in_chunks, out_chunks, budget, expected
):
    from napari_autoencoders.core.inference import prediction

    band = 4 * 2 * 32 * 96 + 2 * 4 * (64 if out_chunks else 0) * 96  # bytes a plane takes
    monkeypatch.setattr(prediction, "SIDE_BY_SIDE_BYTES", budget * band)
    depth = prediction._planes_side_by_side(in_chunks, out_chunks, "SYX", plane=(1, 96), tile=32, factor=1)
    assert depth == expected


@pytest.mark.parametrize(
    ("planes", "budget", "expected"),
    [((0, 3), 2**30, 128 + 2 * 32), ((1, 2), 2**30, 32), ((0, 3), 2**10, 32)],
)
def test_a_block_caches_all_its_tiles_rows_only_for_planes_sharing_chunks_within_the_budget(
    monkeypatch, planes, budget, expected
):
    from napari_autoencoders.core.inference import prediction

    monkeypatch.setattr(prediction, "SIDE_BY_SIDE_BYTES", budget)
    chunked = ChunkedInput(image_of((3, 256, 256)), (3, 32, 64))
    location = [planes, (64, 192), (0, 64)]
    rows = prediction._block_rows(chunked, "SYX", location, tile=32, factor=1, width=128)
    assert rows == expected
