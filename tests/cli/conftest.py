"""Helpers of the command-line tests."""

import pytest

from napari_autoencoders.cli import main


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
