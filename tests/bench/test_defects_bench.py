"""The defective-pixel benchmark: its hot and dead pixels and quick run."""

import sys

import numpy as np
import pytest

import defects


def test_a_thousandth_of_the_pixels_are_made_hot_in_a_copy():
    noisy = np.random.default_rng(0).uniform(0, 1, (200, 200)).astype(np.float32)
    image, hot = defects.with_hot_pixels(noisy, seed=1)
    assert 20 <= hot.sum() <= 60  # 40 expected
    bright = np.percentile(noisy, 99.8)
    assert (image[hot] >= defects.LEAST * bright).all() and (image[hot] <= defects.MOST * bright).all()
    assert np.array_equal(image[~hot], noisy[~hot]) and noisy.max() <= 1


def test_a_thousandth_of_the_pixels_read_no_photon_in_a_dead_copy():
    noisy = np.random.default_rng(0).uniform(0.5, 1, (200, 200)).astype(np.float32)
    image, dead = defects.with_dead_pixels(noisy, seed=1)
    assert 20 <= dead.sum() <= 60 and image.dtype == noisy.dtype
    assert (image[dead] == 0).all() and np.array_equal(image[~dead], noisy[~dead]) and noisy.min() >= 0.5


@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_scores_every_method_near_the_defective_pixels():
    hot_means, hot_cases, dead_means, dead_cases = (table["rows"] for table in defects.run(quick=True))
    assert [row[0] for row in hot_means] == [
        "ours, prior (zero-shot), no hot pixels", "noisy input with hot pixels",
        "ours, prior (zero-shot), hot pixels kept", "ours, prior (zero-shot)", "ours, self-supervised (1 s)",
    ]
    near = {row[0]: float(row[2]) for row in hot_means}
    assert near["ours, prior (zero-shot)"] > near["ours, prior (zero-shot), hot pixels kept"] + 3
    assert [row[0] for row in dead_means] == [str(peak) for peak in defects.DEAD_PEAKS for _ in range(5)]
    assert dead_cases[1][0] == "cell, 100 photons" and dead_cases[1][1] == "noisy input with dead pixels"
    taken, made = (int(count) for count in dead_cases[1][4].split(" of "))
    assert 0 <= taken <= made
    sys.modules.pop("defects", None)
