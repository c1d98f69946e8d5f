"""Helpers of the command-line tests."""

import numpy as np
import pytest

from napari_autoencoders.cli import main


def _disks(count=10, size=16, seed=0):
    """A stack (S, Y, X) of bright disks on black, as uint8 like MNIST."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    centres = rng.uniform(5, 11, (count, 2, 1, 1))
    inside = (y - centres[:, 0]) ** 2 + (x - centres[:, 1]) ** 2 < 16
    return (255 * inside).astype(np.uint8)


@pytest.fixture(scope="session")
def disks():
    """Factory of tiny digit-like stacks: ``disks(count=10, size=16, seed=0)``."""
    return _disks


@pytest.fixture
def run_error(capsys):
    """Run a command line; check for exit status 2 and one error line; return that line."""

    def run(argv) -> str:
        capsys.readouterr()
        assert main([str(arg) for arg in argv]) == 2
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("napari-autoencoders: error: ")
        return lines[0]

    return run
