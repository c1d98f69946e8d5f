import numpy as np
import pytest

from napari_autoencoders.core.data.defects import (
    Defects,
    fill_dark_outliers,
    fill_defects,
    fill_fixed,
    fill_frame_defects,
    find_defects,
    fixed_defects,
    frames_mean,
)
from napari_autoencoders.core.data.stabilization import NoiseModel

SPOTS = [(20, 30), (64, 64), (100, 17), (5, 120), (0, 50), (127, 127)]  # edges and a corner too


def poisson_gaussian(clean: np.ndarray, photons: float, seed: int = 0) -> tuple[np.ndarray, NoiseModel]:
    """``clean`` (values 0 to 1) at ``photons`` for 1, plus read noise 0.01; and its noise model."""
    rng = np.random.default_rng(seed)
    noisy = rng.poisson(clean * photons) / photons + rng.normal(0, 0.01, clean.shape)
    return noisy.astype(np.float32), NoiseModel(1 / photons, 1e-4)


@pytest.fixture
def smooth():
    y, x = np.mgrid[:128, :128]
    return 0.4 + 0.3 * np.sin(x / 11.0) * np.cos(y / 8.0)


@pytest.mark.parametrize("photons", [3, 10, 30, 300])
def test_poisson_gaussian_noise_has_no_hot_or_dead_pixels(smooth, photons):
    dark_and_bright = np.concatenate([smooth * 0.05, smooth], axis=1)  # few photons on the left
    noisy, noise = poisson_gaussian(dark_and_bright, photons)
    hot, dead = find_defects(noisy, noise)
    assert not hot.any() and not dead.any()


def test_hot_pixels_are_found_and_replaced_by_their_neighbours_median(smooth):
    noisy, noise = poisson_gaussian(smooth, 30)
    bad = noisy.copy()
    for y, x in SPOTS:
        bad[y, x] = 5.0
    filled, count = fill_defects(bad, noise)
    assert count == Defects(hot=len(SPOTS), dead=0)
    for y, x in SPOTS:
        ring = np.delete(np.pad(bad, 1, mode="reflect")[y:y + 3, x:x + 3].ravel(), 4)  # mirrored at edges
        assert np.sort(ring)[3] <= filled[y, x] <= np.sort(ring)[4]  # a median of the 8
    elsewhere = np.ones(bad.shape, bool)
    elsewhere[tuple(np.array(SPOTS).T)] = False
    assert np.array_equal(filled[elsewhere], bad[elsewhere])
    assert bad[SPOTS[0]] == 5.0  # the input is left as it was


def test_dead_pixels_where_the_neighbours_collect_enough_photons_are_found_and_replaced(smooth):
    noisy, noise = poisson_gaussian(smooth + 0.3, 1000)  # 400 to 1,000 photons
    bad = noisy.copy()
    for y, x in SPOTS:
        bad[y, x] = 0.0  # reads the camera's offset: no photon
    filled, count = fill_defects(bad, noise)
    assert count == Defects(hot=0, dead=len(SPOTS))
    assert np.abs(filled - noisy)[tuple(np.array(SPOTS).T)].max() < 0.15  # back near the neighbours'
    changed = np.argwhere(filled != bad).tolist()
    assert sorted(changed) == sorted(map(list, SPOTS))


def test_a_dead_pixel_among_few_photons_is_not_told_from_noise(smooth):
    noisy, noise = poisson_gaussian(smooth, 30)  # 3 to 21 photons: a pixel of none is common noise
    bad = noisy.copy()
    bad[64, 64] = 0.0
    assert not find_defects(bad, noise)[1].any()


def test_a_dark_dot_an_optical_system_images_is_not_dead():
    """A dark point imaged at the Nyquist rate (a Gaussian dip of sigma 1 pixel) shades its neighbours."""
    y, x = np.mgrid[:64, :64]
    dot = 1.0 - 0.95 * np.exp(-((y - 32) ** 2 + (x - 40) ** 2) / 2.0)
    noisy, noise = poisson_gaussian(dot, 1000)  # the dot stands hundreds of photons below
    assert not find_defects(noisy, noise)[1].any()


def test_an_image_without_defects_is_returned_as_it_is(smooth):
    noisy, noise = poisson_gaussian(smooth, 30)
    filled, count = fill_defects(noisy, noise)
    assert count == (0, 0) and filled is noisy


@pytest.mark.parametrize(
    "counts, words",
    [((4, 0), "4 hot pixels"), ((0, 1), "1 dead pixel"), ((4, 1), "4 hot and 1 dead pixels"),
     ((0, 0), "no defective pixels")],
)
def test_the_counts_read_as_words(counts, words):
    assert str(Defects(*counts)) == words


def test_a_bright_spot_an_optical_system_images_is_not_hot():
    """A point imaged at the Nyquist rate (a Gaussian of sigma 1 pixel) keeps light in its neighbours."""
    y, x = np.mgrid[:64, :64]
    spot = 0.1 + 0.9 * np.exp(-((y - 32) ** 2 + (x - 40) ** 2) / 2.0)
    noisy, noise = poisson_gaussian(spot, 1000)  # the spot stands thousands of photons clear
    assert not find_defects(noisy, noise)[0].any()


def test_each_plane_of_a_stack_is_judged_on_its_own(smooth):
    noisy, noise = poisson_gaussian(np.stack([smooth[:64, :64]] * 3), 30)
    bad = noisy[None, None].copy()  # (1, 1, Z, Y, X)
    bad[0, 0, 1, 10, 10] = 3.0
    bad[0, 0, 2, 20, 20] = -1.0
    hot, dead = find_defects(bad, noise)
    assert hot.shape == dead.shape == bad.shape
    assert np.argwhere(hot).tolist() == [[0, 0, 1, 10, 10]]
    assert np.argwhere(dead).tolist() == [[0, 0, 2, 20, 20]]


def test_pixels_of_no_photon_among_fifty_are_dead_by_the_poisson_tail(smooth):
    noisy, noise = poisson_gaussian(smooth * 0.5 + 0.4, 80)  # 36 to 60 photons
    bad = noisy.copy()
    for y, x in SPOTS:
        bad[y, x] = 0.0
    # 4 deviations of Gaussian noise below the darkest neighbour took 3 of them
    assert np.argwhere(find_defects(bad, noise)[1]).tolist() == sorted(map(list, SPOTS))


def test_a_dead_pixel_beside_a_dark_neighbour_is_kept_as_a_shadow(smooth):
    noisy, noise = poisson_gaussian(smooth * 0.5 + 0.4, 80)
    bad = noisy.copy()
    bad[64, 64], bad[64, 65] = 0.0, 0.05  # a neighbour of 4 photons: a dark detail, not one pixel
    assert not find_defects(bad, noise)[1][64, 64]


def test_training_data_lose_pixels_of_no_photon_among_twenty(smooth):
    noisy, noise = poisson_gaussian(smooth * 0.5 + 0.4, 40)
    bad = noisy.copy()
    for y, x in SPOTS:
        bad[y, x] = 0.0
    mended = fill_dark_outliers(bad, noise)
    changed = np.argwhere(mended != bad).tolist()
    assert sorted(changed) == sorted(map(list, SPOTS))
    assert np.abs(mended - noisy)[tuple(np.array(SPOTS).T)].max() < 0.25  # about the neighbours' level
    assert bad[SPOTS[0]] == 0.0  # the input is left as it was


def test_poisson_noise_alone_has_no_dark_outliers(smooth):
    noisy, noise = poisson_gaussian(smooth, 30)
    assert fill_dark_outliers(noisy, noise) is noisy


def drifting_frames(smooth, photons, count=8, seed=0):
    """``count`` noisy frames of ``smooth`` shifted by up to 20 pixels, as a drifting stage gives them."""
    rng = np.random.default_rng(seed)
    wide = np.tile(smooth, (2, 2))
    shifts = rng.integers(0, 20, (count, 2))
    frames = [poisson_gaussian(wide[y:y + 128, x:x + 128], photons, seed + f)[0] for f, (y, x) in enumerate(shifts)]
    return np.stack(frames), NoiseModel(1 / photons, 1e-4)


def test_a_dim_hot_pixel_of_every_frame_is_found_by_the_frames_mean_alone(smooth):
    frames, noise = drifting_frames(smooth, 30)
    sigma = float(noise.sigma(0.7))
    for y, x in SPOTS:
        frames[:, y, x] += 5 * sigma  # 5 deviations: under a frame's threshold of 8 (of a difference)
    assert not find_defects(frames, noise)[0][:, SPOTS[1][0], SPOTS[1][1]].any()
    hot, dead = fixed_defects(frames_mean(frames), len(frames), noise)
    assert sorted(np.argwhere(hot).tolist()) == sorted(map(list, SPOTS)) and not dead.any()
    filled, count = fill_frame_defects(frames, noise)
    assert count == Defects(hot=len(frames) * len(SPOTS), dead=0)
    assert np.array_equal(filled, fill_fixed(frames, hot))
    assert frames[0, 20, 30] > filled[0, 20, 30]  # the input is left as it was


def test_the_frames_mean_finds_dead_pixels_among_few_photons(smooth):
    frames, noise = drifting_frames(smooth, 10)  # 1 to 7 photons a frame: one frame cannot tell
    for y, x in SPOTS:
        frames[:, y, x] = 0.0
    assert not find_defects(frames[0], noise)[1][tuple(np.array(SPOTS).T)].any()
    hot, dead = fixed_defects(frames_mean(frames), len(frames), noise)
    assert sorted(np.argwhere(dead).tolist()) == sorted(map(list, SPOTS)) and not hot.any()


@pytest.mark.parametrize("photons", [3, 30, 300])
def test_the_mean_of_noisy_frames_without_defects_has_none(smooth, photons):
    frames, noise = drifting_frames(smooth, photons, count=32)
    hot, dead = fixed_defects(frames_mean(frames), len(frames), noise)
    assert not hot.any() and not dead.any()


def test_a_fixed_pixel_takes_the_median_of_its_frame_s_neighbours_at_edges_and_corners():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    frames = rng.random((3, 2, 9, 7)).astype(np.float32)
    fixed = rng.random((2, 9, 7)) < 0.3
    fixed[0, 0, 0] = fixed[1, 8, 6] = fixed[0, 4, 6] = True
    ring = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], bool)[None, None]
    median = ndimage.median_filter(frames, footprint=ring, mode="mirror")
    assert np.array_equal(fill_fixed(frames, fixed), np.where(fixed, median, frames))
    assert fill_fixed(frames, np.zeros_like(fixed)) is frames
