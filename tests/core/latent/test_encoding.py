import re

import numpy as np
import pytest

from napari_autoencoders.core.latent import encoding as latent
from napari_autoencoders.core.latent.encoding import (
    iter_encode_frames,
    iter_encode_objects,
    iter_encode_tiles,
    object_crops,
    run,
    tile_grid_shape,
    tile_map_placement,
    tile_origins,
)
from napari_autoencoders.core.training import fit

SIZE, DIM = 16, 4


@pytest.fixture(scope="module")
def encoder(tiny_config, blobs):
    config = tiny_config(
        model={"architecture": "autoencoder", "input_size": SIZE, "latent_dim": DIM},
        data={"axes": "SYX"},
        training={"task": "reconstruct"},
    )
    return fit(config, blobs((4, SIZE, SIZE)))


@pytest.fixture(scope="module")
def denoiser(tiny_config, blobs):
    return fit(tiny_config(), blobs((32, 32)))


def test_frames_give_one_code_per_frame(encoder, blobs):
    encoding = run(iter_encode_frames(encoder, blobs((7, SIZE, SIZE)), axes="SYX", batch_size=3))
    assert encoding.latents.shape == (7, DIM) and encoding.latents.dtype == np.float32
    np.testing.assert_array_equal(encoding.index, np.arange(7))
    assert encoding.kind == "frame"


def test_encoding_is_batch_independent(encoder, blobs):
    stack = blobs((5, SIZE, SIZE))
    one = run(iter_encode_frames(encoder, stack, batch_size=1)).latents
    all_ = run(iter_encode_frames(encoder, stack, batch_size=5)).latents
    np.testing.assert_allclose(one, all_, rtol=1e-4, atol=1e-5)


def test_progress_counts_items(encoder, blobs):
    steps = iter_encode_frames(encoder, blobs((5, SIZE, SIZE)), batch_size=2)
    assert [next(steps) for _ in range(3)] == [(2, 5), (4, 5), (5, 5)]


def test_frames_of_the_wrong_size_are_refused(encoder, blobs):
    with pytest.raises(ValueError, match="encode tiles or objects"):
        run(iter_encode_frames(encoder, blobs((2, 20, 20))))


def test_tiles_follow_the_stride(encoder, blobs):
    image = blobs((40, 50))
    encoding = run(iter_encode_tiles(encoder, image, axes="YX", stride=8))
    rows, columns = tile_grid_shape((40, 50), SIZE, 8)
    assert (rows, columns) == (4, 5)
    assert encoding.latents.shape == (rows * columns, DIM)
    np.testing.assert_array_equal(encoding.centers[1], (7.5, 15.5))


def test_tile_crops_are_the_image_pixels(encoder, blobs):
    image = blobs((40, 50))
    origins = tile_origins(image.shape, SIZE, 8)
    crops = latent.TileCrops(latent.open_items(image, "YX"), origins, SIZE)[2:4]
    np.testing.assert_array_equal(crops[1, 0], image[0:16, 24:40])


def test_tile_map_lies_on_the_tile_centres():
    scale, translate = tile_map_placement((2.0, 3.0), (10.0, 0.0), SIZE, 8)
    np.testing.assert_allclose(scale, (16, 24))
    # pixel (1, 2) of the map: the centre of tile origin (8, 16) in the source's world
    np.testing.assert_allclose(translate + scale * (1, 2), np.array((10.0, 0)) + (2, 3) * np.array((15.5, 23.5)))


def labelled_image(blobs):
    image = blobs((40, 40))
    labels = np.zeros((40, 40), np.int32)
    labels[2:8, 2:8] = 3  # near the corner: its crop is padded
    labels[20:30, 15:25] = 7
    return image, labels


def test_objects_give_one_centred_crop_each(encoder, blobs):
    image, labels = labelled_image(blobs)
    crops, ids, centers = object_crops(image, labels, SIZE)
    assert crops.shape == (2, 1, SIZE, SIZE)
    np.testing.assert_array_equal(ids, (3, 7))
    np.testing.assert_allclose(centers[1], (24.5, 19.5))
    np.testing.assert_array_equal(crops[1, 0], image[16:32, 12:28])
    assert np.all(crops[0, 0, :3, :3] == image.min())  # padding outside the image
    encoding = run(iter_encode_objects(encoder, image, labels))
    assert encoding.latents.shape == (2, DIM) and encoding.kind == "label"


def test_masked_crops_blank_other_pixels(blobs):
    image, labels = labelled_image(blobs)
    crops, _, _ = object_crops(image, labels, SIZE, mask=True)
    outside = labels[16:32, 12:28] != 7
    assert np.all(crops[1, 0][outside] == image.min())
    np.testing.assert_array_equal(crops[1, 0][~outside], image[16:32, 12:28][~outside])


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.zeros((30, 40), np.int32), "do not match"),
        (np.zeros((40, 40), np.int32), "no objects"),
        (np.zeros((40, 40), np.float32), "integers"),
        (np.full((40, 40), -3, np.int32), "negative ids \\(the lowest -3\\)"),
    ],
)
def test_bad_labels_are_refused(blobs, labels, message):
    with pytest.raises(ValueError, match=message):
        object_crops(blobs((40, 40)), labels, SIZE)


def test_objects_larger_than_the_crop_are_counted_in_a_warning(encoder, blobs):
    image, labels = labelled_image(blobs)
    labels[2:38, 30:34] = 9  # 36 x 4 pixels, above the 16-pixel crop
    with pytest.warns(UserWarning, match="1 of 3 objects are larger .* 16x16 .* largest 36x4"):
        run(iter_encode_objects(encoder, image, labels))


def test_a_wrong_channel_axis_is_named(encoder, blobs):
    with pytest.raises(ValueError, match="axis C of the axes 'YXC' has 16 values"):
        run(iter_encode_frames(encoder, blobs((5, SIZE, SIZE)), axes="YXC"))


def test_a_plane_of_a_stack_is_picked_by_its_index_on_each_stack_axis():
    image = np.arange(2 * 3 * 4 * 5 * 3).reshape(2, 3, 4, 5, 3)  # TZYXC
    plane, axes = latent.plane_at(image, "TZYXC", {"T": 1, "Z": 2})
    assert axes == "YXC"
    np.testing.assert_array_equal(plane, image[1, 2])
    assert latent.flat_plane_index(image.shape, "TZYXC", 5) == {"T": 1, "Z": 2}
    labels = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    at = {"T": 1, "Z": 2}
    np.testing.assert_array_equal(latent.labels_at(labels, at, image.shape, "TZYXC"), labels[1, 2])
    np.testing.assert_array_equal(latent.labels_at(labels[0, 0], at, image.shape, "TZYXC"), labels[0, 0])
    with pytest.raises(ValueError, match=r"the labels hold planes \(3,\) where the image's stack"):
        latent.labels_at(labels[0], at, image.shape, "TZYXC")
    with pytest.raises(ValueError, match="plane 6 is outside the 6 planes"):
        latent.flat_plane_index(image.shape, "TZYXC", 6)
    with pytest.raises(ValueError, match="Z=3 is outside the image's 3 planes along Z"):
        latent.plane_at(image, "TZYXC", {"T": 0, "Z": 3})
    with pytest.raises(ValueError, match="needs an index on"):
        latent.plane_at(image, "TZYXC", {"Z": 0})
    with pytest.raises(ValueError, match="of one plane already"):
        latent.flat_plane_index((4, 5), "YX", 0)


def test_tiles_of_a_stack_name_the_way_to_choose_a_plane(encoder, blobs):
    with pytest.raises(ValueError, match="--plane N on the command line; in napari, the plane"):
        run(iter_encode_tiles(encoder, blobs((2, 40, 40)), axes="ZYX"))


def test_a_model_without_encoder_is_refused(denoiser, blobs):
    with pytest.raises(ValueError, match="no encoder"):
        run(iter_encode_frames(denoiser, blobs((2, 32, 32))))


def test_tiles_need_a_positive_stride_and_a_large_image(encoder, blobs):
    with pytest.raises(ValueError, match="stride"):
        run(iter_encode_tiles(encoder, blobs((40, 40)), stride=0))
    with pytest.raises(ValueError, match="smaller than one"):
        run(iter_encode_tiles(encoder, blobs((10, 40))))


def test_the_mean_of_a_variational_encoder_is_used():
    import torch

    class Variational(torch.nn.Module):
        def encode(self, x):
            mean = x.flatten(1)[:, :2]
            return mean, torch.full_like(mean, 5.0)

    x = torch.arange(8.0).view(2, 1, 2, 2)
    np.testing.assert_array_equal(latent.latent_of(Variational(), x), [[0, 1], [4, 5]])


def test_item_crops_give_the_encoded_pixels_back(encoder, blobs):
    image, labels = labelled_image(blobs)
    objects = run(iter_encode_objects(encoder, image, labels))
    crops = latent.item_crops(objects, [1], image, axes="YX", size=SIZE, labels=labels)
    np.testing.assert_array_equal(crops, object_crops(image, labels, SIZE)[0][1:])
    tiles = run(iter_encode_tiles(encoder, image, stride=8))
    crops = latent.item_crops(tiles, [0, 4], image, axes="YX", size=SIZE)
    np.testing.assert_array_equal(crops[1, 0], image[8:24, 0:16])
    stack = blobs((3, SIZE, SIZE))
    frames = run(iter_encode_frames(encoder, stack))
    crops = latent.item_crops(frames, [2], stack, axes="SYX", size=SIZE)
    np.testing.assert_array_equal(crops[:, 0], stack[2:])


def test_latent_table_and_csv(encoder, blobs, tmp_path):
    encoding = run(iter_encode_frames(encoder, blobs((3, SIZE, SIZE))))
    table = latent.latent_table(encoding, np.zeros((3, 2)), np.array([0, 1, 1]))
    names = ["index", "center_y", "center_x", "z0", "z1", "z2", "z3", "x", "y", "cluster"]
    assert list(table) == names
    np.testing.assert_array_equal(table["center_y"], [7.5] * 3)  # a frame's middle
    latent.write_csv(tmp_path / "t.csv", table)
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0] == ",".join(table) and lines[3].startswith("2,") and lines[3].endswith(",1")


# -- lazy inputs: read batch by batch, never whole ------------------------------


class CountingArray:
    """A read-only array that records the elements of each read and refuses to be read whole."""

    def __init__(self, array, chunks=None):
        self.array, self.shape, self.dtype, self.ndim = array, array.shape, array.dtype, array.ndim
        if chunks is not None:
            self.chunks = chunks
        self.reads = []

    def __getitem__(self, key):
        values = np.asarray(self.array[key])
        self.reads.append(values.size)
        return values

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole array was read")


def zarr_array(tmp_path, image, chunks, name="image"):
    zarr = pytest.importorskip("zarr")
    path = tmp_path / f"{name}.zarr"
    store = zarr.create_array(path, shape=image.shape, chunks=chunks, dtype=image.dtype)
    store[...] = image
    return CountingArray(zarr.open_array(path, mode="r"), chunks)


def test_frames_of_a_zarr_store_are_read_batch_by_batch(encoder, blobs, tmp_path):
    stack = blobs((40, SIZE, SIZE))
    lazy = zarr_array(tmp_path, stack, (4, SIZE, SIZE))
    encoding = run(iter_encode_frames(encoder, lazy, axes="SYX", batch_size=8))
    assert max(lazy.reads) == 8 * SIZE * SIZE < stack.size
    assert sum(lazy.reads) == stack.size  # each frame once
    expected = run(iter_encode_frames(encoder, stack, axes="SYX", batch_size=8))
    np.testing.assert_allclose(encoding.latents, expected.latents, rtol=1e-5, atol=1e-6)


def test_frames_of_a_dask_array_and_a_memory_map_match_the_array(encoder, blobs, tmp_path):
    da = pytest.importorskip("dask.array")
    stack = blobs((6, SIZE, SIZE))
    np.save(tmp_path / "stack.npy", stack)
    expected = run(iter_encode_frames(encoder, stack)).latents
    for lazy in (da.from_array(stack, chunks=(2, SIZE, SIZE)), np.load(tmp_path / "stack.npy", mmap_mode="r")):
        np.testing.assert_allclose(run(iter_encode_frames(encoder, lazy)).latents, expected, rtol=1e-5, atol=1e-6)


def test_tiles_of_a_zarr_store_are_read_chunk_by_chunk(encoder, blobs, tmp_path):
    image = blobs((96, 128))
    lazy = zarr_array(tmp_path, image, (32, 32))
    encoding = run(iter_encode_tiles(encoder, lazy, axes="YX", stride=8, batch_size=16, cache_mb=1))
    assert max(lazy.reads) == 32 * 32
    expected = run(iter_encode_tiles(encoder, image, axes="YX", stride=8, batch_size=16))
    np.testing.assert_allclose(encoding.latents, expected.latents, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(encoding.centers, expected.centers)


def test_objects_of_a_zarr_store_are_cut_without_reading_it_whole(encoder, blobs, tmp_path):
    image, labels = labelled_image(blobs)
    lazy = zarr_array(tmp_path, image, (16, 16))
    for mask in (False, True):
        encoding = run(iter_encode_objects(encoder, lazy, labels, mask=mask))
        expected = run(iter_encode_objects(encoder, image, labels, mask=mask))
        np.testing.assert_allclose(encoding.latents, expected.latents, rtol=1e-5, atol=1e-6)
    assert max(lazy.reads) == 16 * 16


def test_a_nan_in_a_lazy_image_names_where_it_is(encoder, blobs, tmp_path):
    stack = blobs((4, SIZE, SIZE))
    stack[3, 2, 2] = np.nan
    with pytest.raises(ValueError, match="frames 2 to 3 of the image has 1 NaN"):
        run(iter_encode_frames(encoder, zarr_array(tmp_path, stack, (1, SIZE, SIZE)), batch_size=2))
    image = blobs((40, 40))
    image[30, 5] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite values in plane 0 near row 16"):
        run(iter_encode_tiles(encoder, zarr_array(tmp_path, image, (16, 16), name="plane")))


@pytest.mark.parametrize("kind", ["frames", "tiles"])
def test_the_memory_of_an_encoding_is_bounded_by_the_batch_not_the_store(encoder, tmp_path, kind):
    import tracemalloc

    zarr = pytest.importorskip("zarr")
    shape, chunks = ((4096, SIZE, SIZE), (64, SIZE, SIZE)) if kind == "frames" else ((1024, 1024), (64, 64))
    store = zarr.create_array(tmp_path / "big.zarr", shape=shape, chunks=chunks, dtype="f4")
    store[...] = np.random.default_rng(0).random(shape, dtype=np.float32)  # 4 MiB
    lazy = zarr.open_array(tmp_path / "big.zarr", mode="r")
    steps = (iter_encode_frames(encoder, lazy, axes="SYX", batch_size=64) if kind == "frames"
             else iter_encode_tiles(encoder, lazy, axes="YX", batch_size=64, cache_mb=0.25))  # fmt: skip
    tracemalloc.start()
    try:
        encoding = run(steps)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(encoding.latents) == 4096
    assert peak < 4 * 2**20 / 2  # half the data at most (it measures 0.6 to 0.7 MiB)


@pytest.mark.parametrize(
    ("method", "options", "message"),
    [
        ("predict", {"tiles": 64}, "predict has no option 'tiles'; did you mean 'tile'?"),
        ("encode", {"batchsize": 2}, "no option 'batchsize'; did you mean 'batch_size'?"),
        ("manifold", {"grids": 3}, "manifold has no option 'grids'; did you mean 'grid'?"),
    ],
)
def test_a_misspelt_option_is_named_with_the_right_one(encoder, method, options, message):
    # Python's TypeError named a function inside the package, not the option meant
    frames = np.zeros((2, SIZE, SIZE), np.float32)
    arguments = {"predict": (frames[0],), "encode": (frames,), "manifold": ()}[method]
    with pytest.raises(ValueError, match=re.escape(message) + ".*its options are"):
        getattr(encoder, method)(*arguments, **options)
