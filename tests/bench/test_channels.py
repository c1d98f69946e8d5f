"""The multichannel benchmark's quick run."""

import sys

import pytest

import channels


@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_scores_every_channel_alone_and_together():
    means, found = (table["rows"] for table in channels.run(quick=True))
    assert [row[0] for row in means] == [
        "noisy input", "BM3D + GAT (true noise)", "ours, prior, this channel alone",
        "ours, prior, channels together", "ours, self-supervised (1 s), channels together",
    ]
    assert len(found) == 5 * len(channels.SETS[0])
    psnr = {(row[1], row[2]): float(row[3]) for row in found}
    for name, peak in channels.SETS[0]:
        channel = f"{name}, {peak:g} photons"
        assert psnr[channel, "ours, prior, channels together"] > psnr[channel, "noisy input"]
    sys.modules.pop("channels", None)
