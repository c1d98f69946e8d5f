"""The stack-defects benchmark: its frames, defects and a quick run."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import frame_defects  # noqa: E402

from napari_autoencoders.core.data.stabilization import NoiseModel  # noqa: E402


def test_frames_are_cut_at_offsets_and_share_their_defects():
    clean = np.random.default_rng(0).random((300, 300)).astype(np.float32)
    frames, noisy = frame_defects.stack(clean, "poisson:30+gaussian:0.01", seed=1, side=256)
    assert frames.shape == noisy.shape == (frame_defects.FRAMES, 256, 256)
    assert not all(np.array_equal(frames[0], frame) for frame in frames[1:])  # the stage drifts
    image, hot, dead = frame_defects.with_defects(noisy, NoiseModel(1 / 30, 1e-4), seed=1)
    assert hot.any() and dead.any() and not (hot & dead).any()
    assert (image[:, dead] == 0).all() and (image[:, hot] > noisy[:, hot]).all()
    untouched = ~(hot | dead)
    assert np.array_equal(image[:, untouched], noisy[:, untouched])


@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_scores_each_method_and_restores_the_frames_mean():
    means, every = (table["rows"] for table in frame_defects.run(quick=True))
    assert [row[0] for row in means] == [
        "ours, self-supervised (1 s), no defective pixels", "noisy input with defective pixels",
        "ours, self-supervised (1 s), frames judged apart", "ours, self-supervised (1 s)",
    ]
    assert every[1][4].startswith("made: ")
    from napari_autoencoders.core import calibration
    from napari_autoencoders.core.inference import prediction

    assert calibration.fill_frame_defects.__name__ == "fill_frame_defects"
    assert prediction._shared_in.__name__ == "_shared_in"
    sys.modules.pop("frame_defects", None)
