"""The clipped-noise benchmark's quick run."""

import clipped
import pytest


@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_scores_every_method_and_declipping_helps():
    table, colour = clipped.run(quick=True)
    methods = [row[3] for row in table["rows"]]
    assert methods == ["noisy input", "BM3D", "BM3D, declipped", "ours, prior, clipping ignored",
                       "ours, prior (zero-shot)", "ours, prior, the same noise unclipped",
                       "ours, self-supervised (1 s)"]
    psnr = {row[3]: float(row[4]) for row in table["rows"]}
    assert psnr["ours, prior (zero-shot)"] > psnr["ours, prior, clipping ignored"]
    assert psnr["BM3D, declipped"] > psnr["BM3D"]
    assert table["rows"][-1][-1] == "0"  # clipped Gaussian noise: the prior kept, no step
    assert [row[3] for row in colour["rows"]][:3] == ["noisy input", "CBM3D", "CBM3D, declipped"]
    assert colour["rows"][-1][3].startswith("ours, self-supervised (1 s), ")
