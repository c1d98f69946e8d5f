"""Tests for input checks, the validation split and the patch sampler."""

import warnings

import numpy as np
import pytest
import torch

from napari_autoencoders.core.data.patches import (
    PatchSampler,
    VolumeSampler,
    check_image,
    check_patch_size,
    check_volume_patch,
    held_out_count,
    split_validation,
    square_symmetries,
)


def row_index_planes(count, height, width):
    """Planes (N, 1, Y, X) holding 1000 * plane + row, to trace where data went."""
    planes = np.arange(count)[:, None, None, None] * 1000 + np.arange(height)[None, None, :, None]
    return np.broadcast_to(planes, (count, 1, height, width)).astype(np.float32)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.array([[0.0, np.nan]]), "NaN or infinite"),
        (np.array([[0.0, np.inf], [-np.inf, 1.0]]), r"2 NaN or infinite"),
        (np.ones((4, 4), np.complex64), "complex"),
        (np.array([[1, "a"]], dtype=object), "real numbers"),
        (np.array([["a", "b"]]), "real numbers"),
        ([[1.0, 2.0]], "real numbers"),
    ],
    ids=["nan", "inf", "complex", "object", "str", "list"],
)
def test_check_image_rejects(image, message):
    with pytest.raises(ValueError, match=message):
        check_image(image, "the input image")


def test_check_image_names_the_image():
    with pytest.raises(ValueError, match="^the target"):
        check_image(np.full((2, 2), np.nan), "the target")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float16, np.float64, bool])
def test_check_image_accepts_real_numbers(dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # float16 warned of an overflow in its own range check
        check_image(np.ones((4, 4), dtype))


def test_check_image_scans_a_large_image_in_blocks(monkeypatch):
    from napari_autoencoders.core.data import patches

    monkeypatch.setattr(patches, "SCAN_BYTES", 40)  # 10 float32 values at once
    scanned, isfinite = [], np.isfinite
    monkeypatch.setattr(np, "isfinite", lambda block: scanned.append(block.size) or isfinite(block))
    image = np.zeros((3, 5, 7), np.float32)
    image[0, 0, 1], image[2, 4, 6], image[1, 2, 3] = np.nan, np.inf, -np.inf
    with pytest.raises(ValueError, match="has 3 NaN or infinite value"):
        check_image(image[:, ::-1, 1:], "the input image")  # a view: cut, never copied
    assert max(scanned) <= 10 and sum(scanned) == 3 * 5 * 6
    scanned.clear()
    check_image(np.zeros((40, 2), np.float32))
    assert scanned == [10] * 8


def test_check_patch_size():
    planes = np.zeros((1, 1, 20, 30))
    check_patch_size(planes, 20)
    with pytest.raises(ValueError, match="at most 20"):
        check_patch_size(planes, 21)


def test_split_stack_holds_out_whole_disjoint_planes():
    planes = row_index_planes(10, 8, 8)
    train_x, train_y, val_x, val_y = split_validation(
        planes, planes + 0.5, fraction=0.2, patch_size=8, rng=np.random.default_rng(0)
    )
    train_ids = set(train_x[:, 0, 0, 0] // 1000)
    val_ids = set(val_x[:, 0, 0, 0] // 1000)
    assert len(val_ids) == 2 and len(train_ids) == 8
    assert train_ids | val_ids == set(range(10))
    np.testing.assert_array_equal(train_y, train_x + 0.5)  # targets follow their inputs
    np.testing.assert_array_equal(val_y, val_x + 0.5)
    assert val_x.shape[1:] == planes.shape[1:]


def test_split_phases_hold_out_all_phases_of_a_plane_or_a_strip_of_each():
    from napari_autoencoders.core.data.correlation import to_phases

    planes = row_index_planes(10, 48, 48)
    phases = to_phases(planes, (1, 3))  # item k * 10 + b: phase k of plane b
    train_x, _, val_x, _ = split_validation(
        phases, phases, fraction=0.2, patch_size=8, rng=np.random.default_rng(0), phases=3
    )
    train_ids, val_ids = (list(x[:, 0, 0, 0] // 1000) for x in (train_x, val_x))
    assert len(val_ids) == 6 and len(set(val_ids)) == 2
    assert all(val_ids.count(plane) == 3 for plane in set(val_ids))  # every phase of a held-out plane
    assert not set(train_ids) & set(val_ids) and len(train_ids) == 24
    single = to_phases(row_index_planes(1, 100, 48), (3, 3))  # 9 phases of one plane
    train_x, _, val_x, _ = split_validation(
        single, single, fraction=0.1, patch_size=16, rng=np.random.default_rng(0), phases=9
    )
    assert len(val_x) == len(train_x) == 9 and train_x.max() < val_x.min()  # a strip of each phase


def test_split_single_image_holds_out_a_strip_of_rows():
    planes = row_index_planes(1, 100, 40)
    train_x, train_y, val_x, val_y = split_validation(
        planes, planes, fraction=0.1, patch_size=16, rng=np.random.default_rng(0)
    )
    # the strip is at least one patch high and does not overlap the training rows
    assert val_x.shape == (1, 1, 16, 40)
    assert train_x.shape == (1, 1, 84, 40)
    assert train_x.max() < val_x.min()
    assert train_y.shape == train_x.shape and val_y.shape == val_x.shape


def test_split_wide_image_holds_out_a_strip_of_columns():
    planes = np.broadcast_to(np.arange(100, dtype=np.float32), (1, 1, 20, 100))
    train_x, _, val_x, _ = split_validation(
        planes, planes, fraction=0.25, patch_size=16, rng=np.random.default_rng(0)
    )
    assert val_x.shape == (1, 1, 20, 25)
    assert train_x.shape == (1, 1, 20, 75)
    assert train_x.max() < val_x.min()


def test_split_too_small_image_warns_and_reuses_the_data():
    planes = row_index_planes(1, 20, 20)
    with pytest.warns(UserWarning, match="too small"):
        train_x, _, val_x, _ = split_validation(
            planes, planes, fraction=0.1, patch_size=16, rng=np.random.default_rng(0)
        )
    assert train_x is planes and val_x is planes


def test_split_too_small_image_is_quiet_where_the_caller_says_what_it_does():
    planes = row_index_planes(1, 20, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_x, _, val_x, _ = split_validation(
            planes, planes, fraction=0.1, patch_size=16, rng=np.random.default_rng(0), warn=False
        )
    assert train_x is planes and val_x is planes


def test_split_fraction_zero_validates_on_everything():
    planes = row_index_planes(4, 8, 8)
    train_x, _, val_x, _ = split_validation(
        planes, planes, fraction=0.0, patch_size=8, rng=np.random.default_rng(0)
    )
    assert train_x is planes and val_x is planes


def sampler(inputs, targets=None, *, seed=0, **options):
    options = {"patch_size": 8, "batch_size": 4, "augment": True, **options}
    targets = inputs * 2 if targets is None else targets
    return PatchSampler(inputs, targets, rng=np.random.default_rng(seed), **options)


def test_sampler_shapes_and_dtype():
    inputs = np.random.default_rng(0).random((3, 2, 20, 24), dtype=np.float32)
    x, y = sampler(inputs, batch_size=5).sample()
    assert x.shape == y.shape == (5, 2, 8, 8)
    assert x.dtype == y.dtype == torch.float32


def test_sampler_takes_the_same_crop_and_transform_from_inputs_and_targets():
    inputs = np.random.default_rng(0).random((3, 2, 20, 24), dtype=np.float32)
    patches = sampler(inputs, batch_size=16)
    for _ in range(3):
        x, y = patches.sample()
        torch.testing.assert_close(y, x * 2, rtol=0, atol=0)


def test_sampler_patches_are_crops_of_the_planes():
    inputs = np.random.default_rng(0).random((2, 1, 12, 12), dtype=np.float32)
    x, _ = sampler(inputs, augment=False, batch_size=8).sample()
    windows = np.lib.stride_tricks.sliding_window_view(inputs, (8, 8), axis=(2, 3))
    windows = windows.reshape(-1, 8, 8)
    for patch in x[:, 0].numpy():
        assert any(np.array_equal(patch, window) for window in windows)


def symmetries(square):
    rotations = [np.rot90(square, k) for k in range(4)]
    return rotations + [r[:, ::-1] for r in rotations]


def test_augmentation_covers_all_eight_symmetries():
    square = np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8)  # no symmetry of its own
    x, _ = sampler(square, batch_size=200).sample()
    seen = {patch.tobytes() for patch in x[:, 0].numpy()}
    assert seen == {np.ascontiguousarray(s).tobytes() for s in symmetries(square[0, 0])}


def test_without_augmentation_patches_are_not_transformed():
    square = np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8)
    x, _ = sampler(square, batch_size=20, augment=False).sample()
    assert all(np.array_equal(patch, square[0, 0]) for patch in x[:, 0].numpy())


def test_seeded_sampler_is_reproducible():
    inputs = np.random.default_rng(0).random((3, 1, 20, 24), dtype=np.float32)
    first, second, other = (sampler(inputs, seed=seed) for seed in (1, 1, 2))
    for _ in range(3):
        a, b, c = first.sample()[0], second.sample()[0], other.sample()[0]
        assert torch.equal(a, b)
        assert not torch.equal(a, c)


def test_sampler_rejects_planes_smaller_than_a_patch():
    with pytest.raises(ValueError, match="smaller than the 16x16"):
        sampler(np.zeros((1, 1, 12, 40), np.float32), patch_size=16)


def test_gathered_batch_equals_cropping_and_turning_each_patch():
    # the vectorised sampler reads the same random numbers as a per-patch loop would
    inputs = np.random.default_rng(0).random((3, 2, 20, 24), dtype=np.float32)
    x, _ = sampler(inputs, batch_size=64, seed=1).sample()
    rng = np.random.default_rng(1)
    planes, ys, xs = (rng.integers(0, high, 64) for high in (3, 13, 17))
    turns, flips = rng.integers(0, 4, 64), rng.random(64) < 0.5
    for i, patch in enumerate(x):
        crop = torch.from_numpy(inputs[planes[i], :, ys[i] : ys[i] + 8, xs[i] : xs[i] + 8])
        crop = torch.rot90(crop, int(turns[i]), dims=(-2, -1))
        assert torch.equal(patch, crop.flip(-1) if flips[i] else crop)


def test_sampler_returns_channels_last_batches():
    inputs = np.random.default_rng(0).random((1, 3, 20, 24), dtype=np.float32)
    for batch in sampler(inputs).sample():
        assert batch.is_contiguous(memory_format=torch.channels_last)


def test_sampler_takes_the_planes_it_is_given():
    planes = row_index_planes(6, 8, 8)
    sampler = PatchSampler(
        planes, planes, patch_size=8, batch_size=2, augment=True, rng=np.random.default_rng(0)
    )
    inputs, _ = sampler.sample(np.array([5, 0, 5]))
    assert inputs.shape == (3, 1, 8, 8)
    assert list(inputs.amax(dim=(1, 2, 3)) // 1000) == [5, 0, 5]


@pytest.mark.parametrize(("count", "fraction", "held"), [(20, 0.1, 2), (4, 0.1, 0), (1, 0.5, 0), (9, 0.0, 0)])
def test_held_out_count_matches_the_split(count, fraction, held):
    planes = row_index_planes(count, 4, 4)
    split = split_validation(planes, planes, fraction=fraction, patch_size=4, rng=np.random.default_rng(0))
    assert held_out_count(count, fraction) == held
    if held:
        assert len(split[2]) == held


def test_sampler_applies_the_symmetries_it_is_given():
    planes = np.random.default_rng(0).random((2, 1, 5, 5)).astype(np.float32)
    sampler = PatchSampler(
        planes, planes, patch_size=5, batch_size=2, augment=False, rng=np.random.default_rng(0)
    )
    inputs, _ = sampler.sample(np.array([1, 1]), np.array([0, 1]))
    rows, cols = square_symmetries(5)[1]
    assert np.array_equal(inputs[0, 0].numpy(), planes[1, 0])
    assert np.array_equal(inputs[1, 0].numpy(), planes[1, 0][rows, cols])



def z_index_volumes(count=2, depth=6, height=20, width=24):
    """Volumes (N, 1, Z, Y, X) holding 1000 * volume + 100 * plane + a ramp in Y and X."""
    n, z, y, x = np.meshgrid(*(np.arange(s) for s in (count, depth, height, width)), indexing="ij")
    return (1000 * n + 100 * z + (y + x) / 100)[:, None].astype(np.float32)


@pytest.mark.parametrize("augment", [False, True])
def test_volume_sampler_takes_boxes_of_whole_planes(augment):
    volumes = z_index_volumes()
    sampler = VolumeSampler(
        volumes, volumes + 1, patch_z=4, patch_size=8, batch_size=5, augment=augment,
        rng=np.random.default_rng(0),
    )
    inputs, targets = sampler.sample()

    assert inputs.shape == (5, 1, 4, 8, 8) and inputs.dtype == torch.float32
    assert inputs.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(targets, inputs + 1)  # the same box and transform from both
    planes = torch.div(inputs, 100, rounding_mode="floor")  # 10 * volume + plane
    assert (planes == planes[..., :1, :1]).all()  # each plane of a box is one plane of a volume
    steps = torch.diff(planes[:, 0, :, 0, 0], dim=1).abs()
    assert (steps == 1).all()  # consecutive planes, forwards or (flipped) backwards


def test_volume_sampler_flips_and_turns_when_augmenting():
    volumes = z_index_volumes(count=1)
    options = {"patch_z": 6, "patch_size": 8, "batch_size": 64, "rng": np.random.default_rng(0)}
    plain = VolumeSampler(volumes, volumes, augment=False, **options).sample()[0]
    turned = VolumeSampler(volumes, volumes, augment=True, **options).sample()[0]

    assert (torch.diff(plain[:, 0, :, 0, 0], dim=1) > 0).all()
    assert (torch.diff(turned[:, 0, :, 0, 0], dim=1) < 0).any()


def test_volumes_smaller_than_the_box_are_refused_with_both_fixes():
    volumes = np.zeros((1, 1, 8, 64, 64), np.float32)  # an anisotropic stack of 8 planes

    with pytest.raises(ValueError, match="8x64x64.*16x64x64.*at most 8 planes.*2D network"):
        check_volume_patch(volumes, 16, 64)


def test_a_single_volume_validates_on_a_strip_through_all_planes():
    volumes = z_index_volumes(count=1, depth=6, height=40, width=24)
    train, _, val, _ = split_validation(
        volumes, volumes, fraction=0.25, patch_size=8, rng=np.random.default_rng(0)
    )

    assert train.shape == (1, 1, 6, 30, 24) and val.shape == (1, 1, 6, 10, 24)
