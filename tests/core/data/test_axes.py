"""Tests for axis strings and the (N, C, Y, X) plane view."""

import numpy as np
import pytest

from napari_autoencoders.core.data.axes import (
    chunk_shape,
    PlaneView,
    as_volume_axes,
    check_axes,
    default_axes,
    from_planes,
    plane_view,
    to_planes,
    to_volumes,
)

# Odd, distinct sizes so that a wrongly ordered axis cannot go unnoticed.
SIZES = {"S": 3, "T": 2, "Z": 5, "C": 2, "Y": 7, "X": 9}


def image_for(axes):
    """An array with axes ``axes`` whose every value is unique."""
    shape = tuple(SIZES[a] for a in axes)
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)


@pytest.mark.parametrize("axes", ["YX", "SYX", "TZYX", "YXC", "CYX", "SCYX", "ZYXC"])
def test_planes_round_trip(axes):
    image = image_for(axes)
    planes, layout = to_planes(image, axes)
    stacks = np.prod([SIZES[a] for a in axes if a in "STZ"], dtype=int)
    channels = SIZES["C"] if "C" in axes else 1
    assert planes.shape == (stacks, channels, SIZES["Y"], SIZES["X"])
    assert planes.dtype == image.dtype
    assert layout.channels == channels
    np.testing.assert_array_equal(from_planes(planes, layout), image)


def test_planes_hold_y_x_planes_in_order():
    image = image_for("YXC")
    planes, _ = to_planes(image, "YXC")
    np.testing.assert_array_equal(planes[0, 1], image[..., 1])
    image = image_for("TZYX")
    planes, _ = to_planes(image, "TZYX")
    np.testing.assert_array_equal(planes[SIZES["Z"] + 2, 0], image[1, 2])


def test_to_planes_does_not_copy_a_plain_stack():
    image = image_for("SYX")
    planes, _ = to_planes(image, "SYX")
    assert np.shares_memory(planes, image)


@pytest.mark.parametrize("axes", ["YX", "SYX", "YXC", "SCYX"])
def test_from_planes_accepts_new_y_x_sizes(axes):
    image = image_for(axes)
    planes, layout = to_planes(image, axes)
    upsampled = planes.repeat(2, axis=-2).repeat(3, axis=-1)
    expected = image.repeat(2, axis=axes.index("Y")).repeat(3, axis=axes.index("X"))
    np.testing.assert_array_equal(from_planes(upsampled, layout), expected)


def test_from_planes_rejects_channels_without_c_axis():
    planes, layout = to_planes(image_for("SYX"), "SYX")
    with pytest.raises(ValueError, match="1 channel"):
        from_planes(np.concatenate([planes, planes], axis=1), layout)


def test_lower_case_axes_are_accepted():
    assert check_axes("syx", 3) == "SYX"


@pytest.mark.parametrize(
    ("axes", "ndim", "message"),
    [
        ("YXQ", 3, "unknown letters"),
        ("YYX", 3, "repeats"),
        ("SX", 2, "'Y' and 'X'"),
        ("SYX", 2, "2 dimensions"),
        ("YX", 3, "3 dimensions"),
        ("YX", 5, "5 dimensions"),
    ],
)
def test_bad_axes_raise(axes, ndim, message):
    with pytest.raises(ValueError, match=message):
        check_axes(axes, ndim)
    with pytest.raises(ValueError, match=message):
        to_planes(np.zeros((4,) * ndim), axes)


@pytest.mark.parametrize(("shape", "example"), [((64, 64, 3), "'YXC'"), ((5, 64, 64), "'SYX'")])
def test_the_example_of_axes_fits_the_shape(shape, example):
    # a colour image given to a grey model's YX: 'SYX' would read 64 planes of 64x3 pixels
    with pytest.raises(ValueError, match=f"e.g. {example}"):
        check_axes("YX", 3, shape=shape)


@pytest.mark.parametrize(
    ("ndim", "rgb", "expected"),
    [(2, False, "YX"), (3, False, "SYX"), (4, False, "TZYX"), (3, True, "YXC"), (4, True, "SYXC")],
)
def test_default_axes(ndim, rgb, expected):
    assert default_axes(ndim, rgb=rgb) == expected
    assert check_axes(expected, ndim) == expected


@pytest.mark.parametrize("ndim, message", [(5, "cannot guess"), (1, "1-D array .* is not an image")])
def test_default_axes_refuses_to_guess(ndim, message):
    with pytest.raises(ValueError, match=message):
        default_axes(ndim)


@pytest.mark.parametrize(
    ("axes", "shape"),
    [("YX", (6, 5)), ("TZYX", (2, 3, 6, 5)), ("YXC", (6, 5, 2)), ("CZYX", (2, 3, 6, 5))],
)
def test_plane_view_reads_and_writes_the_planes_of_to_planes(axes, shape):
    array = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    planes, _ = to_planes(array, axes)
    view = PlaneView(array.copy(), axes)
    assert view.shape == planes.shape
    for index in range(len(view)):
        np.testing.assert_array_equal(view[index][:, 1:4, 2:5], planes[index][:, 1:4, 2:5])
    written = PlaneView(np.zeros_like(array), axes)
    for index in range(len(written)):
        written[index][:, :, :] = planes[index]
    np.testing.assert_array_equal(written.array, array)


@pytest.mark.parametrize("axes", ["SYX", "TZYX", "YXC", "SCYX", "TCZYX", "SCZYX"])
def test_plane_view_is_never_a_copy(axes):
    image = image_for(axes)
    planes = plane_view(image, axes)
    if axes in ("TCZYX", "SCZYX"):  # stacks apart in memory: to_planes copies, a PlaneView does not
        assert isinstance(planes, PlaneView) and planes.array is image
    else:
        assert isinstance(planes, np.ndarray) and np.shares_memory(planes, image)
    last = len(planes) - 1
    np.testing.assert_array_equal(planes[last][:, :, :], to_planes(image, axes)[0][last])


@pytest.mark.parametrize("axes", ["ZYX", "TZYX", "CZYX", "ZCYX", "ZYXC", "SZCYX"])
def test_volumes_round_trip(axes):
    image = image_for(axes)
    volumes, layout = to_volumes(image, axes)

    channels = SIZES["C"] if "C" in axes else 1
    assert volumes.shape[1:] == (channels, SIZES["Z"], SIZES["Y"], SIZES["X"])
    assert np.array_equal(from_planes(volumes, layout), image)


def test_volumes_keep_each_plane_in_z_order():
    image = image_for("TZYX")
    volumes, _ = to_volumes(image, "TZYX")

    assert np.array_equal(volumes[1, 0, 3], image[1, 3])


def test_volumes_need_a_z_axis():
    with pytest.raises(ValueError, match="needs a Z axis.*'SYX'"):
        to_volumes(image_for("SYX"), "SYX")


@pytest.mark.parametrize(("axes", "volume"), [("SYX", "ZYX"), ("TZYX", "TZYX"), ("YX", "YX"), ("SYXC", "ZYXC")])
def test_as_volume_axes_reads_samples_as_depth(axes, volume):
    assert as_volume_axes(axes) == volume


def test_chunk_shape_of_zarr_dask_and_numpy(tmp_path):
    import dask.array as da
    import zarr

    stored = zarr.create_array(str(tmp_path / "a.zarr"), shape=(5, 40), chunks=(2, 16), dtype="f4")
    assert chunk_shape(stored) == (2, 16)
    assert chunk_shape(da.zeros((5, 40), chunks=(2, 16))) == (2, 16)  # the largest chunk
    assert chunk_shape(np.zeros((5, 40))) is None


@pytest.mark.parametrize("axes, shape", [("YX", (5, 6)), ("TZYX", (2, 3, 5, 6)), ("ZCYX", (4, 2, 5, 6)), ("YXC", (5, 6, 3))])
def test_read_planes_gives_the_planes_of_to_planes(axes, shape):
    image = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    planes, _ = to_planes(image, axes)
    view = PlaneView(image, axes)
    for start, stop in ((0, len(planes)), (1, len(planes)), (0, 1)):
        np.testing.assert_array_equal(view.read_planes(start, stop), planes[start:stop])
