"""The colour-image benchmark's quick run."""

import sys

import pytest

import colour


@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_scores_every_method_and_names_the_colours_chosen():
    (table,) = colour.run(quick=True)
    methods = [row[2] for row in table["rows"]]
    assert methods[:5] == ["noisy input", "BM3D, channel by channel", "CBM3D",
                           "ours, prior, channel by channel", "ours, prior, opponent colours"]
    assert methods[5].startswith("ours, self-supervised (1 s), ")
    psnr = {row[2]: float(row[3]) for row in table["rows"]}
    assert psnr["ours, prior, opponent colours"] > psnr["noisy input"]
    sys.modules.pop("colour", None)
