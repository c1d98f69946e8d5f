"""Tests for tiled application of a function to a (C, Y, X) image."""

import tracemalloc

import numpy as np
import pytest

from napari_autoencoders.core.inference.tiling import (
    apply_tiled,
    blend_window,
    fit_tile,
    iter_tiled,
    iter_tiled_volume,
    plan_tiles,
    tiled_region,
)
from napari_autoencoders.core.progress import run


def identity(batch):
    return batch


def box_blur(batch):
    """3x3 mean of a (B, C, Y, X) batch with reflect padding at its borders."""
    padded = np.pad(batch, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    height, width = batch.shape[-2:]
    shifts = [padded[..., dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)]
    return np.mean(shifts, axis=0)


def upsample(scale):
    return lambda batch: batch.repeat(scale, axis=-2).repeat(scale, axis=-1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize(
    ("shape", "tile", "overlap"),
    [((37, 53), 16, 4), ((100, 71), (32, 20), 7), ((9, 9), 4, 3), ((64, 64), 16, 0)],
)
def test_plan_covers_image_with_overlap_and_flush_last_tile(shape, tile, overlap):
    plan = plan_tiles(shape, tile=tile, overlap=overlap)
    covered = np.zeros(shape, int)
    for t in plan.tiles:
        covered[t.y0 : t.y1, t.x0 : t.x1] += 1
    assert covered.min() >= 1
    assert {(t.y1 - t.y0, t.x1 - t.x0) for t in plan.tiles} == {plan.tile_yx}
    for starts, size in zip((plan.y_starts, plan.x_starts), plan.tile_yx):
        assert starts[0] == 0
        assert np.all(size - np.diff(starts) >= overlap)
    assert plan.y_starts[-1] + plan.tile_yx[0] == shape[0]
    assert plan.x_starts[-1] + plan.tile_yx[1] == shape[1]
    assert [t.y0 for t in plan.tiles] == sorted(t.y0 for t in plan.tiles)


def test_tile_larger_than_image_is_one_tile_equal_to_image():
    (only,) = plan_tiles((10, 7), tile=32, overlap=8).tiles
    assert (only.y0, only.y1, only.x0, only.x1) == (0, 10, 0, 7)


def test_blend_weights_are_positive_and_one_away_from_overlaps():
    plan = plan_tiles((50, 41), tile=16, overlap=5)
    total = np.zeros((100, 82))
    for t in plan.tiles:
        weights = np.outer(
            blend_window(plan.y_starts, t.row, 16, scale=2),
            blend_window(plan.x_starts, t.col, 16, scale=2),
        )
        assert 0 < weights.min() and weights.max() <= 1
        total[2 * t.y0 : 2 * t.y1, 2 * t.x0 : 2 * t.x1] += weights
    assert total.min() > 0.5
    first = blend_window(plan.y_starts, 0, 16)
    assert first[0] == 1  # the image border is not faded


@pytest.mark.parametrize("shape", [(1, 37, 53), (3, 100, 71)])
@pytest.mark.parametrize(("tile", "overlap"), [(16, 4), ((24, 10), 9), (8, 0), (64, 16)])
def test_identity_round_trip(rng, shape, tile, overlap):
    image = rng.random(shape, dtype=np.float32)
    result = apply_tiled(identity, image, tile=tile, overlap=overlap)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, image, atol=1e-6)


@pytest.mark.parametrize("scale", [2, 3])
def test_upsampling_matches_whole_image(rng, scale):
    image = rng.random((2, 29, 40), dtype=np.float32)
    result = apply_tiled(upsample(scale), image, tile=12, overlap=3, scale=scale)
    expected = image.repeat(scale, axis=1).repeat(scale, axis=2)
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_single_tile_equals_fn_exactly(rng):
    image = rng.random((2, 20, 30), dtype=np.float32)
    result = apply_tiled(box_blur, image, tile=32, overlap=4)
    assert np.array_equal(result, box_blur(image[np.newaxis])[0])


def test_blending_hides_tile_borders(rng):
    image = rng.random((1, 90, 70), dtype=np.float32)
    untiled = box_blur(image[np.newaxis])[0]
    result = apply_tiled(box_blur, image, tile=24, overlap=8)
    # Reflect padding errs by about 0.1 on each tile's edge; blending must fade that out.
    assert np.abs(result - untiled).max() < 0.01


def test_writes_into_memmap(rng, tmp_path):
    image = rng.random((2, 45, 33), dtype=np.float32)
    out = np.lib.format.open_memmap(tmp_path / "out.npy", "w+", np.float32, (2, 90, 66))
    result = apply_tiled(upsample(2), image, tile=16, overlap=4, scale=2, out=out)
    assert result is out
    out.flush()
    expected = image.repeat(2, axis=1).repeat(2, axis=2)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-6)


def test_finished_rows_are_written_before_the_last_tile(rng):
    image = rng.random((1, 60, 20), dtype=np.float32)
    out = np.zeros_like(image)
    steps = iter_tiled(identity, image, tile=20, overlap=4, out=out)
    plan = plan_tiles((60, 20), tile=20, overlap=4)
    for _ in range(len(plan.row(0)) + 1):
        next(steps)
    done_rows = plan.y_starts[1]
    np.testing.assert_allclose(out[:, :done_rows], image[:, :done_rows], atol=1e-6)
    assert not out[:, -1].any()


@pytest.mark.slow
def test_memory_stays_below_image_size(tmp_path):
    shape = (1, 8000, 256)
    image = np.lib.format.open_memmap(tmp_path / "in.npy", "w+", np.float32, shape)
    out = np.lib.format.open_memmap(tmp_path / "out.npy", "w+", np.float32, shape)
    tracemalloc.start()
    apply_tiled(identity, image, tile=32, overlap=8, out=out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < image.nbytes / 20


@pytest.mark.parametrize("batch_size", [2, 5])
def test_progress_and_batches(rng, batch_size, run_to_end):
    image = rng.random((2, 50, 61), dtype=np.float32)
    calls = []

    def record(batch):
        calls.append(batch.shape)
        return box_blur(batch)

    yielded, result = run_to_end(
        iter_tiled(record, image, tile=16, overlap=4, batch_size=batch_size)
    )
    total = len(plan_tiles((50, 61), tile=16, overlap=4).tiles)
    assert yielded[-1] == (total, total)
    assert all(t == total for _, t in yielded)
    assert max(shape[0] for shape in calls) == batch_size
    assert all(shape[1:] == (2, 16, 16) for shape in calls)
    np.testing.assert_allclose(
        result, apply_tiled(box_blur, image, tile=16, overlap=4), atol=1e-6
    )


class SlicedOnly:
    """Array-like that records every read, like a lazy dask or zarr array."""

    def __init__(self, data):
        self.data, self.shape, self.ndim, self.reads = data, data.shape, data.ndim, []

    def __getitem__(self, key):
        self.reads.append(self.data[key].shape)
        return self.data[key]


def test_lazy_image_is_read_tile_by_tile(rng):
    data = rng.random((2, 40, 50), dtype=np.float32)
    image = SlicedOnly(data)
    result = apply_tiled(identity, image, tile=16, overlap=4)
    np.testing.assert_allclose(result, data, atol=1e-6)
    assert set(image.reads) == {(2, 16, 16)}


def test_tiles_given_to_fn_are_float32_copies():
    image = np.arange(2 * 8 * 8, dtype=np.uint16).reshape(2, 8, 8)

    def scribble(batch):
        assert batch.dtype == np.float32
        batch[:] = 0
        return batch + 1

    np.testing.assert_array_equal(apply_tiled(scribble, image, tile=4, overlap=1), 1)
    assert image.max() == 2 * 8 * 8 - 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tile": 8, "overlap": 8}, "overlap"),
        ({"tile": 8, "overlap": -1}, "overlap"),
        ({"tile": 0, "overlap": 0}, "tile must be positive"),
        ({"tile": (8, 8, 8), "overlap": 2}, "pair"),
        ({"tile": 8, "overlap": 2, "scale": 0}, "scale"),
        ({"tile": 8, "overlap": 2, "batch_size": 0}, "batch_size"),
        ({"tile": 8, "overlap": 2, "out": np.zeros((1, 5, 5))}, "out must have shape"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        apply_tiled(identity, np.zeros((1, 20, 20)), **kwargs)


@pytest.mark.parametrize("shape", [(20, 20), (1, 1, 20, 20)])
def test_image_must_be_three_dimensional(shape):
    with pytest.raises(ValueError, match=r"\(C, Y, X\)"):
        apply_tiled(identity, np.zeros(shape), tile=8, overlap=2)


def test_fn_returning_wrong_shape_raises():
    with pytest.raises(ValueError, match="fn must return"):
        apply_tiled(identity, np.zeros((1, 20, 20)), tile=8, overlap=2, scale=2)


@pytest.mark.parametrize(
    ("size", "tile", "overlap"), [(2048, 512, 32), (8192, 256, 32), (37, 32, 8), (1000, 100, 0)]
)
def test_fit_tile_keeps_the_tile_count_with_less_overlap(size, tile, overlap):
    side = fit_tile(size, tile, overlap, multiple=4)
    assert side <= tile and (side % 4 == 0 or side == tile)
    fitted = plan_tiles((size, size), tile=side, overlap=overlap)
    largest = plan_tiles((size, size), tile=tile, overlap=overlap)
    assert len(fitted.y_starts) == len(largest.y_starts)
    assert fitted.y_starts[-1] + side == size  # still covers the image


def test_fit_tile_shares_a_2048_side_evenly_and_leaves_small_images_alone():
    assert fit_tile(2048, 512, 32, multiple=4) == 436
    assert fit_tile(300, 512, 32) == 512


@pytest.mark.parametrize("scale", [1, 2])
def test_regions_computed_apart_equal_the_whole_result(scale):
    def fn(batch):  # depends on where a tile is cut, as a network with zero padding does
        upscaled = batch.repeat(scale, axis=-2).repeat(scale, axis=-1)
        return upscaled - upscaled.mean(axis=(-2, -1), keepdims=True)

    image = np.random.default_rng(0).random((2, 70, 53), dtype=np.float32)
    options = {"tile": 24, "overlap": 6, "scale": scale, "batch_size": 3}
    whole = apply_tiled(fn, image, **options)
    for y0, x0 in [(0, 0), (17 * scale, 40 * scale), (60 * scale, 9 * scale)]:
        region = ((y0, min(y0 + 13 * scale, whole.shape[1])), (x0, x0 + 11 * scale))
        part = tiled_region(fn, image, region, **options)
        np.testing.assert_allclose(part, whole[:, slice(*region[0]), slice(*region[1])], rtol=1e-6)


@pytest.mark.parametrize(
    ("shape", "tile", "overlap"),
    [((1, 13, 40, 35), (8, 16, 16), (2, 4, 4)), ((2, 5, 9, 9), (8, 16, 16), (2, 4, 4))],
)
def test_volume_identity_round_trip(rng, shape, tile, overlap, run_to_end):
    image = rng.random(shape).astype(np.float32)

    events, out = run_to_end(iter_tiled_volume(identity, image, tile=tile, overlap=overlap, batch_size=3))

    np.testing.assert_allclose(out, image, rtol=1e-6)
    assert events[-1][0] == events[-1][1]


def test_volume_blending_fades_seams_in_z(rng):
    """Tiles that disagree by a constant blend smoothly across Z, with no step at a seam."""
    image = np.zeros((1, 24, 8, 8), np.float32)

    def offset_by_first_plane(batch):  # each box adds a value that depends on where it starts
        return batch + np.arange(len(batch))[:, None, None, None, None].astype(np.float32)

    out = apply_tiled_volume(offset_by_first_plane, image, tile=(12, 8, 8), overlap=(6, 0, 0))
    profile = out[0, :, 0, 0]
    assert np.all(np.diff(profile) >= 0) and np.max(np.diff(profile)) < 0.5


def test_volume_fn_returning_wrong_shape_raises():
    with pytest.raises(ValueError, match="fn must return \\(B, C_out, Z, Y, X\\)"):
        apply_tiled_volume(lambda b: b[..., :-1], np.zeros((1, 4, 8, 8)), tile=(4, 8, 8), overlap=(0, 0, 0))


def test_volume_tiling_refuses_pairs_and_planes():
    with pytest.raises(ValueError, match="\\(Z, Y, X\\) triples"):
        apply_tiled_volume(identity, np.zeros((1, 4, 8, 8)), tile=(8, 8), overlap=(0, 0))
    with pytest.raises(ValueError, match="volume \\(C, Z, Y, X\\)"):
        apply_tiled_volume(identity, np.zeros((1, 8, 8)), tile=(4, 8, 8), overlap=(0, 0, 0))


def apply_tiled_volume(fn, image, **options):
    return run(iter_tiled_volume(fn, image, **options))
