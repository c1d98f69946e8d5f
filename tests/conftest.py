"""Settings for the whole suite."""

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def single_torch_thread():
    """Run torch on one thread for the tiny test networks, in every test.

    They gain nothing from more, and two threads on two cores shared with
    other jobs (a widget's worker thread, napari's own) made training up to
    10 times slower: the threads wait on each other.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
