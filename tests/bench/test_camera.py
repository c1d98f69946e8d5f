"""The camera-counts benchmark: its scale round trip and quick run."""

import sys

import numpy as np
import pytest

import camera


def test_counts_map_back_to_the_benchmark_scale():
    noisy = np.array([[0.0, 0.25], [1.0, -0.02]], np.float32)  # read noise dips below 0
    counts = camera.camera_counts(noisy, photons=30)
    assert counts.dtype == np.uint16 and counts.min() >= camera.OFFSET - 2
    np.testing.assert_allclose(camera.from_counts(counts, 30), noisy, atol=0.5 / (camera.GAIN * 30))


@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_scores_each_method_on_both_scales():
    means, cases = (table["rows"] for table in camera.run(quick=True))
    assert [row[1] for row in means] == ["ours, prior (zero-shot)", "ours, self-supervised (1 s)"]
    prior, trained = cases  # at 30 photons on the cell
    assert abs(float(prior[5])) < 0.1  # the prior does on counts what it does on the benchmark's scale
    assert trained[6] != "0"  # steps done on the counts
    sys.modules.pop("camera", None)
