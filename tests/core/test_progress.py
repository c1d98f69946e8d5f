"""Progress generators and the checkpoints that stop work between their yields."""

import threading

import numpy as np
import pytest

from napari_autoencoders.core.prior import checked_planes_noise
from napari_autoencoders.core.progress import Cancelled, checkpoint, run, stoppable


def test_run_returns_the_generators_value():
    def steps():
        yield 1, 2
        yield 2, 2
        return "done"

    assert run(steps()) == "done"


def test_a_checkpoint_outside_a_stoppable_block_does_nothing():
    checkpoint()


def test_a_checkpoint_raises_once_the_block_is_asked_to_stop():
    asked = []
    with stoppable(lambda: bool(asked)):
        checkpoint()
        asked.append(True)
        with pytest.raises(Cancelled):
            checkpoint()
    checkpoint()  # after the block, nothing asks


def test_a_stoppable_block_holds_in_its_own_thread_only():
    raised = []

    def elsewhere():
        try:
            checkpoint()
        except Cancelled:
            raised.append(True)

    with stoppable(lambda: True):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert raised == []


def test_the_priors_check_of_many_planes_stops_between_planes():
    rng = np.random.default_rng(0)
    planes = (0.5 + 0.1 * rng.standard_normal((3, 1, 64, 64))).astype(np.float32)
    with stoppable(lambda: True), pytest.raises(Cancelled):
        checked_planes_noise(planes)
