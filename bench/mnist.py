"""The MNIST sample of ``sample_data/mnist_5000.npz``, split into training and held-out digits.

The file is sorted by digit (500 of each), so "the last 1,000" would be all
eights and nines: the split is a seeded random permutation instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "mnist_5000.npz"
#: Digits held out for scoring.
HELD_OUT = 1000


def split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training images, held-out images, training labels, held-out labels.

    Images are (S, 28, 28) uint8, labels (S,) int; the same ``seed`` gives the same split.
    """
    with np.load(SAMPLE) as archive:
        images, labels = archive["images"], archive["labels"]
    order = np.random.default_rng(seed).permutation(len(images))
    train, test = order[:-HELD_OUT], order[-HELD_OUT:]
    return images[train], images[test], labels[train], labels[test]
