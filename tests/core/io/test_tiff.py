"""Tests for what a TIFF says of its pixels: axes, pixel sizes, one image."""

import numpy as np
import pytest
import tifffile

from napari_autoencoders.core.io.images import read_image
from napari_autoencoders.core.io.tiff import TiffLayout, read_layout, writing_options


def test_an_imagej_hyperstack_gives_its_axes_pixel_sizes_and_unit(tmp_path):
    path = tmp_path / "stack.tif"
    metadata = {"axes": "ZCYX", "unit": "micron", "spacing": 0.7}
    tifffile.imwrite(path, np.zeros((3, 2, 16, 20), np.float32), imagej=True,
                     resolution=(2.0, 4.0), metadata=metadata)  # fmt: skip
    assert read_layout(path) == TiffLayout("ZCYX", (0.7, 1.0, 0.25, 0.5), "micron")


def test_an_ome_tiff_gives_its_axes_and_physical_sizes(tmp_path):
    path = tmp_path / "image.ome.tif"
    metadata = {"axes": "CYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.25}
    tifffile.imwrite(path, np.zeros((2, 16, 20), np.uint16), metadata=metadata)
    assert read_layout(path) == TiffLayout("CYX", (1.0, 0.25, 0.5), "µm")


@pytest.mark.parametrize(
    ("axes", "unit", "default_time_unit"),
    [("TYX", "micron", None), ("CTYX", "µm", "s")],  # ImageJ's order; OME-TIFF's seconds
)
def test_a_time_step_is_written_and_read_with_its_unit(tmp_path, axes, unit, default_time_unit):
    path = tmp_path / "movie.tif"
    scale = tuple({"T": 2.5, "Y": 0.25, "X": 0.5}.get(a, 1.0) for a in axes)
    data = np.zeros([{"C": 2, "T": 3}.get(a, 16) for a in axes], np.float32)
    tifffile.imwrite(path, data, **writing_options(axes, scale, "µm", "millisecond"))
    assert read_layout(path) == TiffLayout(axes, scale, unit, "ms")
    tifffile.imwrite(path, data, **writing_options(axes, scale, "µm"))
    assert read_layout(path) == TiffLayout(axes, scale, unit, default_time_unit)


def test_a_time_step_alone_writes_no_pixel_size(tmp_path):
    path = tmp_path / "movie.ome.tif"
    data, scale = np.zeros((2, 3, 16, 20), np.float32), (1.0, 0.5, 1.0, 1.0)
    tifffile.imwrite(path, data, **writing_options("CTYX", scale, None, "s"))  # OME: µm by default
    assert read_layout(path) == TiffLayout("CTYX", scale, None, "s")


def test_a_plain_tiff_stores_neither_axes_nor_sizes(tmp_path):
    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((5, 16, 20), np.float32))
    assert read_layout(tmp_path / "plain.tif") == TiffLayout()


def test_an_uncalibrated_imagej_stack_has_axes_only(tmp_path):
    stack = np.zeros((4, 16, 20), np.uint8)
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    assert read_layout(tmp_path / "stack.tif") == TiffLayout("ZYX")


def test_separate_images_are_refused_but_a_thumbnail_is_not_one(tmp_path):
    with tifffile.TiffWriter(tmp_path / "several.tif") as writer:
        for _ in range(3):
            writer.write(np.zeros((16, 20), np.uint8))
    with pytest.raises(ValueError, match="holds 3 separate images"):
        read_layout(tmp_path / "several.tif")
    with pytest.raises(ValueError, match="holds 3 separate images"):
        read_image(tmp_path / "several.tif")
    with tifffile.TiffWriter(tmp_path / "thumbnail.tif") as writer:
        writer.write(np.ones((16, 20), np.uint8))
        writer.write(np.zeros((4, 5), np.uint8), subfiletype=1)  # reduced resolution
    assert read_layout(tmp_path / "thumbnail.tif") == TiffLayout()
    assert read_image(tmp_path / "thumbnail.tif").shape == (16, 20)


@pytest.mark.parametrize(
    ("axes", "kind"),
    [("ZCYX", "imagej"), ("TYX", "imagej"), ("YX", "imagej"), ("CZYX", "ome"), ("SYX", "ome"),
     ("YXC", None)],  # fmt: skip
)
def test_axes_and_sizes_are_written_as_imagej_or_ome_metadata(tmp_path, axes, kind):
    shape = {"S": 2, "T": 2, "Z": 3, "C": 2, "Y": 16, "X": 20}
    scale = tuple({"Y": 0.25, "X": 0.5, "Z": 0.7}.get(a, 1.0) for a in axes)
    data = np.zeros([shape[a] for a in axes], np.float32)
    for sizes, name in ((scale, "sized.tif"), (None, "unsized.tif")):
        tifffile.imwrite(tmp_path / name, data, **writing_options(axes, sizes, "µm"))
    sized, unsized = read_layout(tmp_path / "sized.tif"), read_layout(tmp_path / "unsized.tif")
    if kind is None:  # channels last: neither, rather than sizes read in inches
        assert sized == unsized == TiffLayout() and writing_options(axes, scale, "µm") == {}
    else:
        assert sized == TiffLayout(axes, scale, "micron" if kind == "imagej" else "µm")
        assert unsized == TiffLayout(axes)


def test_a_pixel_size_of_zero_is_no_size(tmp_path):
    path = tmp_path / "zero.ome.tif"
    tifffile.imwrite(path, np.zeros((16, 20), np.float32),
                     metadata={"axes": "YX", "PhysicalSizeX": 0.0, "PhysicalSizeY": 0.5})  # fmt: skip
    assert read_layout(path) == TiffLayout("YX")
