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
    ("axes", "imagej"), [("ZCYX", True), ("TYX", True), ("YX", True), ("SYX", False), ("YXC", False)]
)
def test_sizes_are_written_as_imagej_metadata_where_its_order_allows(tmp_path, axes, imagej):
    shape = {"S": 2, "T": 2, "Z": 3, "C": 2, "Y": 16, "X": 20}
    scale = tuple({"Y": 0.25, "X": 0.5, "Z": 0.7}.get(a, 1.0) for a in axes)
    options = writing_options(axes, scale, "µm")
    path = tmp_path / "out.tif"
    tifffile.imwrite(path, np.zeros([shape[a] for a in axes], np.float32), **options)

    layout = read_layout(path)
    if imagej:
        assert layout == TiffLayout(axes, scale, "micron")
    else:  # the resolution tags alone, which Fiji and tifffile show
        assert layout == TiffLayout() and "imagej" not in options
        with tifffile.TiffFile(path) as tiff:
            assert tiff.pages.first.tags["XResolution"].value == (2, 1)
    assert writing_options(axes, None, "µm") == {}
