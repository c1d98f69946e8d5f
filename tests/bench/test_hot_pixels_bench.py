"""The hot-pixel benchmark: its hot pixels and quick run."""

import sys

import numpy as np
import pytest

import hot_pixels


def test_a_thousandth_of_the_pixels_are_made_hot_in_a_copy():
    noisy = np.random.default_rng(0).uniform(0, 1, (200, 200)).astype(np.float32)
    image, hot = hot_pixels.with_hot_pixels(noisy, seed=1)
    assert 20 <= hot.sum() <= 60  # 40 expected
    bright = np.percentile(noisy, 99.8)
    assert (image[hot] >= hot_pixels.LEAST * bright).all() and (image[hot] <= hot_pixels.MOST * bright).all()
    assert np.array_equal(image[~hot], noisy[~hot]) and noisy.max() <= 1


@pytest.mark.slow
def test_quick_run_scores_every_method_near_the_hot_pixels():
    means, cases = (table["rows"] for table in hot_pixels.run(quick=True))
    assert [row[0] for row in means] == [
        "ours, prior (zero-shot), no hot pixels", "noisy input with hot pixels",
        "ours, prior (zero-shot), hot pixels kept", "ours, prior (zero-shot)", "ours, self-supervised (1 s)",
    ]
    near = {row[0]: float(row[2]) for row in means}
    assert near["ours, prior (zero-shot)"] > near["ours, prior (zero-shot), hot pixels kept"] + 3
    sys.modules.pop("hot_pixels", None)
