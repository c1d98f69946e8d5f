"""The clipped photon counts benchmark's quick run."""

import clipped_photons
import numpy as np
import pytest


def test_clipped_counts_pile_up_at_zero_where_no_photon_came():
    clean = np.full((64, 64), 0.05, dtype=np.float32)  # half a photon at 10 photons
    noisy = clipped_photons.clipped_counts(clean, 10, seed=0)
    assert noisy.min() == 0.0 and noisy.max() <= 1.0
    assert np.mean(noisy == 0) == pytest.approx(0.5 * np.exp(-0.5), abs=0.03)  # negative read noise


@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_scores_every_method():
    (table,) = clipped_photons.run(quick=True)
    assert [row[3] for row in table["rows"]] == [
        "noisy input", "BM3D + GAT", "ours, prior (zero-shot)", "ours, prior, true noise",
        "ours, self-supervised (1 s)",
    ]
    psnr = {row[3]: float(row[4]) for row in table["rows"]}
    assert psnr["ours, prior (zero-shot)"] > psnr["noisy input"] + 5
