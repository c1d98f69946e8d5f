"""Tests for the ``encode`` command, run in-process on tiny files."""

import numpy as np
import pytest

from napari_autoencoders.cli import main
from napari_autoencoders.core.config import Config, DataConfig, ModelConfig, TrainingConfig
from napari_autoencoders.core.io.model_files import save_model
from napari_autoencoders.core.training import fit

SIZE, DIM = 16, 3


def stack(count=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((count, SIZE, SIZE), dtype=np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny reconstruct model, a stack, a large image with labels, and a U-Net."""
    folder = tmp_path_factory.mktemp("encode")
    tiny = dict(depth=1, width=8)
    training = TrainingConfig(task="reconstruct", epochs=1, steps_per_epoch=2, device="cpu")
    config = Config(
        model=ModelConfig(architecture="autoencoder", input_size=SIZE, latent_dim=DIM, **tiny),
        data=DataConfig(axes="SYX", patch_size=SIZE, batch_size=2),
        training=training,
    )
    unet = Config(
        model=ModelConfig(**tiny),
        data=DataConfig(patch_size=SIZE, batch_size=2),
        training=TrainingConfig(epochs=1, steps_per_epoch=1, device="cpu"),
    )
    labels = np.zeros((48, 48), np.int32)
    for label, (y, x) in enumerate([(5, 5), (5, 30), (20, 20), (40, 10), (40, 40)], start=1):
        labels[y - 3 : y + 3, x - 3 : x + 3] = label
    paths = {name: folder / f"{name}.npy" for name in ("stack", "image", "labels", "two")}
    np.save(paths["stack"], stack())
    np.save(paths["two"], stack(2, seed=3))
    np.save(paths["image"], stack(1, seed=1)[0].repeat(3, 0).repeat(3, 1))
    np.save(paths["labels"], labels)
    paths["model"] = save_model(fit(config, stack()), folder / "ae.safetensors")
    paths["unet"] = save_model(fit(unet, stack(1)[0]), folder / "unet.safetensors")
    return paths


def encode(files, tmp_path, *options):
    output = tmp_path / "latents.csv"
    status = main(["encode", "--model", str(files["model"]), "--output", str(output), "--quiet",
                   "--device", "cpu", *map(str, options)])
    return status, output


def read_csv(path):
    header = path.read_text().splitlines()[0].split(",")
    return header, np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def test_frames_give_one_row_each(files, tmp_path):
    status, output = encode(files, tmp_path, "--input", files["stack"], "--clusters", 3)
    assert status == 0
    header, rows = read_csv(output)
    assert header == ["index", "center_y", "center_x", "z0", "z1", "z2", "x", "y", "cluster"]
    assert rows.shape == (12, 9)
    np.testing.assert_array_equal(rows[:, 0], np.arange(12))
    assert set(rows[:, -1]) == {0, 1, 2}


def test_objects_give_one_row_per_label(files, tmp_path):
    status, output = encode(
        files, tmp_path, "--input", files["image"], "--labels", files["labels"],
        "--clusters", 2, "--method", "gmm", "--embed", "tsne", "--mask",
    )
    assert status == 0
    _, rows = read_csv(output)
    np.testing.assert_array_equal(rows[:, 0], [1, 2, 3, 4, 5])
    np.testing.assert_allclose(rows[:, 1:3], [(4.5, 4.5), (4.5, 29.5), (19.5, 19.5), (39.5, 9.5),
                                              (39.5, 39.5)])  # the centroids


def test_tiles_and_objects_of_a_stack_come_from_the_plane_asked_for(files, tmp_path):
    image = np.load(files["image"])
    stack, labels = tmp_path / "zyx.npy", tmp_path / "labels_zyx.npy"
    np.save(stack, np.stack([image * 0.5, image, image * 2.0]))
    objects = np.load(files["labels"])
    np.save(labels, np.stack([objects, np.where(objects > 3, 0, objects), objects]))
    (tmp_path / "plane").mkdir()
    for options in (["--tile-stride", 16], ["--labels", files["labels"]]):
        status, output = encode(files, tmp_path, "--input", stack, "--axes", "ZYX", "--plane", 2,
                                *options)
        assert status == 0
        np.save(tmp_path / "plane" / "z2.npy", image * 2.0)
        status, expected = encode(files, tmp_path / "plane", "--input", tmp_path / "plane" / "z2.npy",
                                  *options)
        assert status == 0
        np.testing.assert_allclose(read_csv(output)[1], read_csv(expected)[1], atol=1e-5)
    status, output = encode(files, tmp_path, "--input", stack, "--axes", "ZYX", "--plane", 1,
                            "--labels", labels)  # labels of every plane: plane 1 holds 3 objects
    assert status == 0
    np.testing.assert_array_equal(read_csv(output)[1][:, 0], [1, 2, 3])


@pytest.mark.parametrize(
    "options, message",
    [(["--plane", 0], "--plane picks the plane to cut tiles or objects from"),
     (["--plane", 3, "--tile-stride", 16, "--axes", "ZYX"], "plane 3 is outside the 3 planes")],
)
def test_a_plane_out_of_place_is_refused(files, tmp_path, capsys, options, message):
    stack = tmp_path / "zyx.npy"
    np.save(stack, np.stack([np.load(files["image"])] * 3))
    status, _ = encode(files, tmp_path, "--input", stack, *options)
    assert status == 2 and message in capsys.readouterr().err


def test_a_mask_without_labels_is_refused(files, tmp_path, capsys):
    status, output = encode(files, tmp_path, "--input", files["image"], "--mask")
    assert status == 2 and "--mask blanks the pixels outside each object" in capsys.readouterr().err
    assert not output.exists()


def test_two_items_and_one_cluster_still_give_a_table(files, tmp_path):
    status, output = encode(files, tmp_path, "--input", files["two"], "--clusters", 1, "--embed", "tsne")
    assert status == 0
    _, rows = read_csv(output)
    assert rows.shape == (2, 9) and set(rows[:, -1]) == {0}


def test_tiles_follow_the_stride(files, tmp_path):
    status, output = encode(files, tmp_path, "--input", files["image"], "--tile-stride", 16)
    assert status == 0
    _, rows = read_csv(output)
    assert len(rows) == 9  # a 3 x 3 grid over 48 x 48
    # a cache smaller than a block reads the tiles again, to the same codes
    (tmp_path / "small").mkdir()
    status, small = encode(
        files, tmp_path / "small", "--input", files["image"], "--tile-stride", 16, "--cache-mb", 0.001
    )
    assert status == 0
    np.testing.assert_allclose(read_csv(small)[1], rows, atol=1e-6)


def test_a_cache_of_no_memory_is_refused(files, tmp_path, capsys):
    status, _ = encode(files, tmp_path, "--input", files["stack"], "--cache-mb", 0)
    assert status == 2
    assert "cache" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options, message",
    [
        (["--clusters", 20], "cannot form 20 clusters"),
        (["--embed", "identity"], "needs a 1D or 2D latent"),
    ],
)
def test_bad_choices_exit_with_status_2(files, tmp_path, capsys, options, message):
    status, _ = encode(files, tmp_path, "--input", files["stack"], *options)
    assert status == 2
    assert message in capsys.readouterr().err


def test_a_unet_is_refused(files, tmp_path, capsys):
    output = tmp_path / "x.csv"
    status = main(["encode", "--model", str(files["unet"]), "--input", str(files["stack"]),
                   "--output", str(output)])
    assert status == 2 and "no encoder" in capsys.readouterr().err


def test_mismatched_labels_are_refused(files, tmp_path, capsys):
    status, _ = encode(files, tmp_path, "--input", files["stack"], "--labels", files["labels"])
    assert status == 2 and "error:" in capsys.readouterr().err


def test_an_ome_zarr_stack_is_encoded_with_its_stored_axes(files, tmp_path):
    from napari_autoencoders.core.io.zarr_store import atomic_zarr

    frames, path = stack(), tmp_path / "frames.ome.zarr"
    with atomic_zarr(path, frames.shape, chunks=(1, SIZE, SIZE), axes="TYX") as out:
        out[:] = frames
    status, output = encode(files, tmp_path, "--input", path, "--clusters", 2)
    assert status == 0
    _, from_zarr = read_csv(output)
    status, output = encode(files, tmp_path, "--input", files["stack"], "--clusters", 2)
    codes = slice(1, 1 + DIM)
    np.testing.assert_allclose(from_zarr[:, codes], read_csv(output)[1][:, codes], atol=1e-5)


def test_objects_of_a_compressed_tiff_with_zarr_labels_match_the_arrays(files, tmp_path):
    import tifffile
    import zarr

    from napari_autoencoders.core.io.zarr_store import open_image

    image, labels = np.load(files["image"]), np.load(files["labels"])
    tifffile.imwrite(tmp_path / "image.tif", image, compression="zlib", rowsperstrip=8)
    assert isinstance(open_image(tmp_path / "image.tif").array, zarr.Array)  # decoded strip by strip
    store = zarr.create_array(tmp_path / "labels.zarr", shape=labels.shape, chunks=(16, 16), dtype=labels.dtype)
    store[...] = labels
    codes = slice(1, 1 + DIM)
    options = ("--clusters", 2, "--mask")
    status, output = encode(files, tmp_path, "--input", tmp_path / "image.tif", "--labels", tmp_path / "labels.zarr", *options)
    assert status == 0
    _, lazy = read_csv(output)
    encode(files, tmp_path, "--input", files["image"], "--labels", files["labels"], *options)
    np.testing.assert_allclose(lazy[:, codes], read_csv(output)[1][:, codes], atol=1e-5)
