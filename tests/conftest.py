"""Settings and fixtures for the whole suite."""

import gc
import subprocess

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


@pytest.fixture(scope="session", autouse=True)
def frozen_imports():
    """Keep the objects of the modules imported so far out of every later garbage collection.

    napari collects all garbage whenever layers leave a canvas (each viewer's
    close included), and with torch, napari and Qt imported one full collection
    took about 0.5 s, most of a widget test's teardown. The modules' objects
    live to the end anyway; objects the tests make are collected as before.
    """
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


def _mounted_tmpfs(folder, options):
    """Mount a tmpfs with ``options`` at the new ``folder``; skip where it cannot be mounted."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}"
        )
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs at ``tmp_path / "disk"``, to fill; skipped where it cannot be mounted."""
    yield from _mounted_tmpfs(tmp_path / "disk", "size=1m")


@pytest.fixture
def read_only_folder(tmp_path):
    """A read-only tmpfs at ``tmp_path / "read-only"``; skipped where it cannot be mounted."""
    yield from _mounted_tmpfs(tmp_path / "read-only", "size=1m,ro")


def _run_to_end(steps):
    """Drive a progress generator to its end; return its yields and its value."""
    yielded = []
    while True:
        try:
            yielded.append(next(steps))
        except StopIteration as stop:
            return yielded, stop.value


@pytest.fixture(scope="session")
def run_to_end():
    """Drive a generator of the core to its end: ``yields, value = run_to_end(steps)``."""
    return _run_to_end
