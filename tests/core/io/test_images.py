"""Tests for reading and writing TIFF, NumPy and PNG image files."""

import warnings

import numpy as np
import pytest
import tifffile

from napari_autoencoders.core.io.images import check_writable, create_image, read_image, write_image


def ramp(shape, dtype):
    """Distinct values spanning much of the dtype's range (or [-1, 2] for floats)."""
    values = np.linspace(0, 1, int(np.prod(shape))).reshape(shape)
    if np.issubdtype(dtype, np.integer):
        return np.round(values * np.iinfo(dtype).max).astype(dtype)
    return (values * 3 - 1).astype(dtype)


@pytest.mark.parametrize("suffix", [".tif", ".tiff", ".npy"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("shape", [(5, 7), (3, 5, 7), (2, 5, 7, 3)])
def test_exact_round_trip(tmp_path, suffix, dtype, shape):
    image = ramp(shape, dtype)
    path = write_image(tmp_path / f"image{suffix}", image)
    back = read_image(path)
    assert back.dtype == image.dtype
    np.testing.assert_array_equal(back, image)


def test_tiff_stores_a_stack_of_three_as_three_grey_pages(tmp_path):
    write_image(tmp_path / "stack.tif", ramp((3, 5, 7), np.uint16))
    with tifffile.TiffFile(tmp_path / "stack.tif") as tif:
        assert len(tif.pages) == 3
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((5, 7), np.uint8), ((5, 7), np.uint16), ((5, 7, 3), np.uint8), ((5, 7, 4), np.uint8)],
)
def test_png_round_trip_of_8_and_16_bit(tmp_path, shape, dtype):
    image = ramp(shape, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is lost, so nothing to warn about
        write_image(tmp_path / "image.png", image)
    back = read_image(tmp_path / "image.png")
    assert back.dtype == image.dtype
    np.testing.assert_array_equal(back, image)


def test_png_stores_small_integers_exactly(tmp_path):
    image = np.array([[0, 300], [65535, 7]], dtype=np.int64)
    write_image(tmp_path / "image.png", image)
    back = read_image(tmp_path / "image.png")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, image)


def test_float_png_is_min_max_scaled_to_16_bit_with_warning(tmp_path):
    image = ramp((6, 9), np.float32)
    with pytest.warns(UserWarning, match="write a .tif"):
        write_image(tmp_path / "image.png", image)
    back = read_image(tmp_path / "image.png")
    assert back.dtype == np.uint16
    assert (back.min(), back.max()) == (0, 65535)
    expected = (image - image.min()) / (image.max() - image.min()) * 65535
    np.testing.assert_allclose(back, expected, atol=0.5 + 1e-3)


def test_colour_float_png_is_scaled_to_8_bit(tmp_path):
    image = ramp((4, 5, 3), np.float32)
    with pytest.warns(UserWarning):
        write_image(tmp_path / "image.png", image)
    back = read_image(tmp_path / "image.png")
    assert back.dtype == np.uint8
    assert back.shape == image.shape
    assert (back.min(), back.max()) == (0, 255)


def test_constant_float_png_is_black(tmp_path):
    with pytest.warns(UserWarning):
        write_image(tmp_path / "image.png", np.full((4, 4), 3.5, np.float32))
    np.testing.assert_array_equal(read_image(tmp_path / "image.png"), 0)


@pytest.mark.parametrize("shape", [(2, 5, 7), (5, 7, 2), (1, 2, 5, 7)])
def test_png_refuses_stacks(tmp_path, shape):
    with pytest.raises(ValueError, match=r"PNG .*\.tif"):
        write_image(tmp_path / "image.png", np.zeros(shape, np.uint8))
    assert not (tmp_path / "image.png").exists()


def test_png_refuses_nan(tmp_path):
    image = np.ones((4, 4), np.float32)
    image[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_image(tmp_path / "image.png", image)


def test_mmap_npy_returns_a_read_only_memmap(tmp_path):
    image = ramp((3, 8, 8), np.float32)
    np.save(tmp_path / "image.npy", image)
    mapped = read_image(tmp_path / "image.npy", mmap=True)
    assert isinstance(mapped, np.memmap)
    assert not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, image)


def test_mmap_tiff_returns_a_memmap_when_uncompressed(tmp_path):
    image = ramp((3, 8, 8), np.uint16)
    tifffile.imwrite(tmp_path / "image.tif", image, photometric="minisblack")
    mapped = read_image(tmp_path / "image.tif", mmap=True)
    assert isinstance(mapped, np.memmap)
    np.testing.assert_array_equal(mapped, image)


def test_mmap_compressed_tiff_is_read_whole(tmp_path):
    image = ramp((3, 8, 8), np.uint16)
    tifffile.imwrite(tmp_path / "image.tif", image, photometric="minisblack", compression="zlib")
    back = read_image(tmp_path / "image.tif", mmap=True)
    assert not isinstance(back, np.memmap)
    np.testing.assert_array_equal(back, image)


def test_npz_reads_the_images_array(tmp_path):
    images = ramp((4, 6, 6), np.uint8)
    np.savez(tmp_path / "digits.npz", images=images, labels=np.arange(4))
    np.savez(tmp_path / "single.npz", stack=images)
    np.testing.assert_array_equal(read_image(tmp_path / "digits.npz"), images)
    np.testing.assert_array_equal(read_image(tmp_path / "single.npz"), images)


def test_npz_without_an_images_array_is_refused(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros(3), b=np.ones(3))
    with pytest.raises(ValueError, match="'images'"):
        read_image(tmp_path / "two.npz")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tif"):
        read_image(tmp_path / "missing.tif")


@pytest.mark.parametrize("name", ["image.jpg", "image", "image.czi"])
def test_unknown_extension_names_the_supported_formats(tmp_path, name):
    (tmp_path / name).write_bytes(b"\0" * 16)
    with pytest.raises(ValueError, match=r"supported formats are \.tif, \.tiff, \.npy"):
        read_image(tmp_path / name)
    with pytest.raises(ValueError, match=r"supported formats are \.tif"):
        write_image(tmp_path / name, np.zeros((4, 4)))


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".npz", ".png"])
def test_corrupt_file_gives_a_one_line_value_error(tmp_path, suffix):
    path = tmp_path / f"corrupt{suffix}"
    path.write_bytes(b"not an image\n" * 20)
    with pytest.raises(ValueError, match="could not read") as info:
        read_image(path)
    assert "\n" not in str(info.value)


def test_pickled_npy_is_refused(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="could not read"):
        read_image(tmp_path / "objects.npy")


def test_writing_into_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_image(tmp_path / "no" / "such" / "image.tif", np.zeros((4, 4)))


def test_check_writable_returns_the_format(tmp_path):
    assert check_writable(tmp_path / "out.TIFF", (2, 8, 8)) == ".tiff"
    assert check_writable(tmp_path / "out.png", (8, 8, 3)) == ".png"


@pytest.mark.parametrize(("name", "shape"), [("a.npy", (2, 5, 6)), ("a.tif", (5, 6, 3))])
def test_create_image_maps_a_file_written_piece_by_piece(tmp_path, name, shape):
    mapped = create_image(tmp_path / name, shape, np.float32)
    expected = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    for row in range(shape[0]):
        mapped[row] = expected[row]
    mapped.flush()
    del mapped
    np.testing.assert_array_equal(read_image(tmp_path / name), expected)


def test_create_image_gives_none_for_png(tmp_path):
    assert create_image(tmp_path / "a.png", (5, 6)) is None
