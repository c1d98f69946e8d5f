"""Tests for zarr and OME-Zarr images read and written chunk by chunk."""

import os

import numpy as np
import pytest
import zarr

from napari_autoencoders.core.io.images import read_image
from napari_autoencoders.core.io.zarr_store import (
    LazyImage,
    atomic_zarr,
    check_zarr_writable,
    is_ome_zarr,
    is_zarr,
    open_image,
    output_chunks,
    output_scale,
    output_translation,
    read_as,
    read_zarr,
)


def test_names_tell_zarr_and_ome_zarr():
    assert is_zarr("a/b.zarr") and is_zarr("b.OME.zarr") and not is_zarr("b.tif")
    assert is_ome_zarr("b.ome.zarr") and not is_ome_zarr("b.zarr")


def test_plain_array_is_read_lazily_without_axes(tmp_path):
    path = tmp_path / "image.zarr"
    stored = zarr.create_array(str(path), shape=(256, 256), chunks=(64, 64), dtype="u2")
    stored[:64, :64] = 7
    image = read_zarr(path)
    assert isinstance(image.array, zarr.Array)  # not a numpy copy
    assert image.array.chunks == (64, 64)
    assert image.axes is None and image.scale is None
    assert image.array[0, 0] == 7


def test_ome_zarr_round_trip_keeps_axes_scale_and_chunks(tmp_path):
    path = tmp_path / "result.ome.zarr"
    data = np.arange(2 * 256 * 256, dtype=np.float32).reshape(2, 256, 256)
    with atomic_zarr(
        path, data.shape, chunks=(1, 64, 64), axes="ZYX", scale=(2.0, 0.5, 0.5)
    ) as out:
        out[:] = data
    image = read_zarr(path)
    assert image.axes == "ZYX" and image.scale == (2.0, 0.5, 0.5)
    assert image.array.chunks == (1, 64, 64)
    np.testing.assert_array_equal(image.array[:], data)


def test_ome_zarr_keeps_the_units_of_space_and_time(tmp_path):
    path = tmp_path / "movie.ome.zarr"
    units = {"unit": "m", "time_unit": "min"}  # "m" is a metre, on a space axis only
    with atomic_zarr(path, (3, 8, 8), chunks=(1, 8, 8), axes="TYX", scale=(40, 2, 2), **units):
        pass
    axes = zarr.open_group(str(path)).attrs["multiscales"][0]["axes"]
    assert [axis.get("unit") for axis in axes] == ["minute", "meter", "meter"]
    image = read_zarr(path)
    assert image.unit == "meter" and image.time_unit == "minute"
    with atomic_zarr(path, (3, 8, 8), chunks=(1, 8, 8), axes="TYX", scale=(40, 2, 2)):
        pass
    assert read_zarr(path).unit is None and read_zarr(path).time_unit is None


def test_an_axis_read_as_another_keeps_no_size_position_or_time_unit():
    stack = LazyImage(np.zeros((3, 4, 4)), "ZYX", (3.0, 0.5, 0.5), "um", (7.0, 1.0, 2.0))
    movie = read_as(stack, "TYX")  # a Z spacing is no frame interval
    assert movie.axes == "TYX" and movie.scale == (1.0, 0.5, 0.5) and movie.unit == "um"
    assert movie.translation == (0.0, 1.0, 2.0) and movie.time_unit is None
    timed = LazyImage(np.zeros((3, 4, 4)), "TYX", (2.0, 0.5, 0.5), time_unit="s")
    assert read_as(timed, "TYX") is timed and read_as(timed, "ZYX").time_unit is None
    assert read_as(LazyImage(np.zeros((3, 4, 4))), "TYX").scale is None


def test_ome_zarr_0_5_multiscale_reads_the_full_resolution(tmp_path):
    path = tmp_path / "pyramid.ome.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    full = group.create_array("s0", shape=(3, 128, 128), chunks=(1, 64, 64), dtype="u1")
    group.create_array("s1", shape=(3, 64, 64), chunks=(1, 64, 64), dtype="u1")
    axes = [{"name": "c", "type": "channel"}, {"name": "y"}, {"name": "x"}]
    datasets = [
        {"path": name, "coordinateTransformations": [{"type": "scale", "scale": [1, s, s]}]}
        for name, s in (("s0", 0.3), ("s1", 0.6))
    ]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}
    image = read_zarr(path)
    assert image.array.shape == full.shape
    assert image.axes == "CYX" and image.scale == (1.0, 0.3, 0.3)


def test_the_multiscale_transforms_follow_the_levels_own(tmp_path):
    path = tmp_path / "placed.ome.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", shape=(2, 32, 32), dtype="u1")
    level = [
        {"type": "scale", "scale": [1, 0.5, 0.5]},
        {"type": "translation", "translation": [0, 1, 2]},
    ]
    placed = [
        {"type": "scale", "scale": [3, 2, 2]},
        {"type": "translation", "translation": [5, 10, 20]},
    ]
    group.attrs["multiscales"] = [{
        "version": "0.4", "axes": [{"name": "z"}, {"name": "y"}, {"name": "x"}],
        "datasets": [{"path": "0", "coordinateTransformations": level}],
        "coordinateTransformations": placed,
    }]  # fmt: skip
    image = read_zarr(path)
    # the image's transforms apply after its level's: scales multiply, translations scale and add
    assert image.scale == (3.0, 1.0, 1.0) and image.translation == (5.0, 12.0, 24.0)
    group.attrs["multiscales"] = [{
        "axes": ["z", "y", "x"], "datasets": [{"path": "0"}],
        "coordinateTransformations": [{"type": "scale", "scale": [3, 2, 2]}],
    }]  # fmt: skip
    image = read_zarr(path)
    assert image.scale == (3.0, 2.0, 2.0) and image.translation is None


def test_unknown_ome_axis_names_leave_the_axes_to_the_caller(tmp_path):
    path = tmp_path / "odd.ome.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", shape=(4, 32, 32), dtype="u1")
    axes = [{"name": "angle"}, {"name": "y"}, {"name": "x"}]
    group.attrs["multiscales"] = [{"axes": axes, "datasets": [{"path": "0"}]}]
    assert read_zarr(path).axes is None


def test_group_without_metadata_names_its_arrays(tmp_path):
    path = tmp_path / "group.zarr"
    zarr.open_group(str(path), mode="w").create_array("raw", shape=(8, 8), dtype="u1")
    with pytest.raises(ValueError, match="raw"):
        read_zarr(path)


def _bioformats2raw(path, images, *, series=None):
    """A bioformats2raw store at ``path`` of ``images`` OME-Zarr images (ZYX) in groups 0, 1..."""
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    if series is not None:
        root.create_group("OME").attrs["series"] = series
    for index in range(images):
        image = path.parent / f"image{index}.ome.zarr"
        with atomic_zarr(image, (2, 16, 16), chunks=(1, 16, 16), axes="ZYX", scale=(2.0, 0.5, 0.5)) as out:
            out[:] = index
        os.replace(image, path / str(index))


def test_a_bioformats2raw_store_of_one_image_is_read_as_it(tmp_path):
    path = tmp_path / "converted.zarr"
    _bioformats2raw(path, 1)
    image = read_zarr(path)
    assert image.axes == "ZYX" and image.scale == (2.0, 0.5, 0.5) and image.array.shape == (2, 16, 16)
    _bioformats2raw(path, 2, series=["1"])  # the OME group lists the images
    assert read_zarr(path).array[0, 0, 0] == 1
    _bioformats2raw(path, 2)
    with pytest.raises(ValueError, match=r"store of 2 images, in '0', '1'; give the path of one"):
        read_zarr(path)


def test_missing_store_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.zarr"):
        read_zarr(tmp_path / "missing.zarr")


def test_failed_write_keeps_the_previous_store(tmp_path):
    path = tmp_path / "result.zarr"
    with atomic_zarr(path, (64, 64), chunks=(32, 32)) as out:
        out[:] = 1
    with pytest.raises(RuntimeError), atomic_zarr(path, (64, 64), chunks=(32, 32)) as out:
        out[:] = 2
        raise RuntimeError("interrupted")
    np.testing.assert_array_equal(read_zarr(path).array[:], 1)
    assert sorted(os.listdir(tmp_path)) == ["result.zarr"]  # no temporary store left


def test_a_second_write_replaces_the_store(tmp_path):
    path = tmp_path / "result.zarr"
    for value in (1, 2):
        with atomic_zarr(path, (64, 64), chunks=(32, 32)) as out:
            out[:] = value
    np.testing.assert_array_equal(read_zarr(path).array[:], 2)
    assert sorted(os.listdir(tmp_path)) == ["result.zarr"]


def test_a_folder_that_is_no_store_is_never_replaced(tmp_path):
    folder = tmp_path / "data.zarr"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a zarr store"):
        check_zarr_writable(folder)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_is_refused_before_writing(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="choose a folder you can write to"):
            check_zarr_writable(folder / "out.zarr")
    finally:
        folder.chmod(0o700)


def test_other_names_and_missing_folders_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"ends in \.zarr"):
        check_zarr_writable(tmp_path / "out.tif")
    with pytest.raises(FileNotFoundError, match="create it first"):
        check_zarr_writable(tmp_path / "nowhere" / "out.zarr")


@pytest.mark.parametrize("axes", ["YXC", "ZTYX", "SCYX"])
def test_ome_zarr_refuses_axes_it_cannot_describe(tmp_path, axes):
    with (
        pytest.raises(ValueError, match="write a plain .zarr store"),
        atomic_zarr(
            tmp_path / "out.ome.zarr", (2,) * len(axes), chunks=(2,) * len(axes), axes=axes
        ),
    ):
        pass
    assert list(tmp_path.iterdir()) == []


def test_ome_zarr_chunks_are_nested_folders(tmp_path):
    with atomic_zarr(tmp_path / "out.ome.zarr", (4, 4), chunks=(2, 2), axes="YX") as out:
        out[:] = 1
    assert (tmp_path / "out.ome.zarr" / "0" / "1" / "1").is_file()  # 0.4: chunk keys "y/x"


def test_ome_zarr_needs_axes(tmp_path):
    with (
        pytest.raises(ValueError, match="axis letter"),
        atomic_zarr(tmp_path / "out.ome.zarr", (8, 8), chunks=(8, 8)),
    ):
        pass


def test_output_chunks_and_scale_follow_the_input():
    assert output_chunks((1, 64, 64, 3), "ZYXC", (5, 128, 128, 2), factor=2) == (1, 128, 128, 2)
    assert output_chunks(None, "SYX", (4, 256, 256)) == (1, 1024, 1024)
    assert output_scale((2.0, 0.5, 0.5, 1.0), "ZYXC", 2) == (2.0, 0.25, 0.25, 1.0)
    assert output_scale(None, "YX", 2) is None


def test_an_upscaled_output_is_shifted_from_an_input_without_translation():
    shifted = output_translation((0.0, 0.0, 0.0), (2.0, 0.5, 0.5), "ZYX", 4)
    assert shifted == (0.0, -0.1875, -0.1875)  # 0.375 of an input pixel of 0.5
    assert output_translation(None, (2.0, 0.5, 0.5), "ZYX", 4) == shifted
    assert output_translation(None, None, "YX", 2) == (-0.25, -0.25)
    assert output_translation(None, (0.5, 0.5), "YX") is None  # the input's grid: none either


def test_open_image_maps_files_and_opens_stores(tmp_path):
    np.save(tmp_path / "image.npy", np.ones((16, 16), np.float32))
    assert isinstance(open_image(tmp_path / "image.npy").array, np.memmap)
    zarr.create_array(str(tmp_path / "image.zarr"), shape=(16, 16), dtype="f4")
    assert isinstance(open_image(tmp_path / "image.zarr").array, zarr.Array)


@pytest.mark.parametrize("layout", [{"rowsperstrip": 8}, {"tile": (16, 16)}])
def test_a_compressed_tiff_is_opened_as_zarr_and_decoded_lazily(tmp_path, layout):
    tifffile = pytest.importorskip("tifffile")
    data = np.random.default_rng(0).integers(0, 4000, (2, 64, 48), dtype=np.uint16)
    path = tmp_path / "image.tif"
    tifffile.imwrite(path, data, photometric="minisblack", compression="zlib", **layout)
    image = open_image(path)
    assert isinstance(image.array, zarr.Array) and image.array.shape == data.shape
    assert image.array.chunks[-2] < data.shape[-2]  # a strip or a tile, not the page
    np.testing.assert_array_equal(image.array[1, 8:24, 16:32], data[1, 8:24, 16:32])


def test_an_uncompressed_tiff_is_still_memory_mapped(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "image.tif", np.ones((16, 16), np.float32), photometric="minisblack")
    assert isinstance(open_image(tmp_path / "image.tif").array, np.memmap)


def test_a_corrupt_tiff_is_a_clear_error(tmp_path):
    (tmp_path / "bad.tif").write_bytes(b"II*\x00not a tiff at all")
    with pytest.raises(ValueError, match="bad.tif.*holds no image"):
        open_image(tmp_path / "bad.tif")
    with pytest.raises(ValueError, match="bad.tif.*holds no image"):
        read_image(tmp_path / "bad.tif")


def test_a_damaged_ome_header_or_a_cut_file_is_a_clear_error(tmp_path):
    import tifffile

    image = np.zeros((4, 8, 8), np.uint16)
    tifffile.imwrite(tmp_path / "ome.ome.tif", image, ome=True, metadata={"axes": "ZYX"})
    damaged = (tmp_path / "ome.ome.tif").read_bytes().replace(b'SizeZ="4"', b'SizeQ="4"')
    (tmp_path / "damaged.ome.tif").write_bytes(damaged)  # tifffile fails with a KeyError
    with pytest.raises(ValueError, match=r"damaged.ome.tif.*KeyError: 'SizeZ'"):
        open_image(tmp_path / "damaged.ome.tif")
    tifffile.imwrite(tmp_path / "whole.tif", image)
    (tmp_path / "cut.tif").write_bytes((tmp_path / "whole.tif").read_bytes()[:-1])
    for read in (open_image, lambda path: read_image(path, mmap=True)):
        with pytest.raises(ValueError, match=r"cut.tif.*may have been cut short"):
            read(tmp_path / "cut.tif")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"compression": "zlib"},
        {"tile": (16, 16)},
        {"imagej": True, "metadata": {"axes": "TYX"}},
    ],
)
def test_a_tiff_header_is_parsed_once(tmp_path, monkeypatch, options):
    # a header of thousands of pages takes seconds to parse; opening parsed it 3 to 4 times
    import tifffile

    image = np.arange(3 * 32 * 48, dtype=np.uint16).reshape(3, 32, 48)
    tifffile.imwrite(tmp_path / "image.tif", image, **options)
    opened = []
    parse = tifffile.TiffFile.__init__

    def counted(self, *args, **kwargs):
        opened.append(args)
        parse(self, *args, **kwargs)

    monkeypatch.setattr(tifffile.TiffFile, "__init__", counted)
    lazy = open_image(tmp_path / "image.tif")
    np.testing.assert_array_equal(np.asarray(lazy.array[:]), image)
    assert len(opened) == 1
    assert read_image(tmp_path / "image.tif", mmap=True).shape == image.shape
    assert len(opened) == 2


@pytest.mark.parametrize("ome", [True, False])
def test_a_pyramidal_tiff_opens_at_its_full_resolution(tmp_path, ome):
    import tifffile

    path = tmp_path / ("pyramid.ome.tif" if ome else "pyramid.tif")
    image = np.arange(128 * 128, dtype=np.uint16).reshape(128, 128)
    metadata = {"axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5} if ome else None
    with tifffile.TiffWriter(path, ome=ome) as writer:
        writer.write(image, subifds=1, tile=(32, 32), metadata=metadata)
        writer.write(image[::2, ::2], subfiletype=1, tile=(32, 32))
    opened = open_image(path)
    np.testing.assert_array_equal(opened.array[:], image)
    assert opened.scale == ((0.5, 0.5) if ome else None)
