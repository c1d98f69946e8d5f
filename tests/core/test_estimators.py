import subprocess
import sys

from napari_autoencoders.core.estimators import sklearn_module

#: Threads that import scikit-learn's modules first, all at once, in a fresh interpreter.
RACE = """
import threading
from napari_autoencoders.core.estimators import sklearn_module
names = ["cluster", "decomposition", "manifold", "metrics", "mixture", "neighbors"] * 2
errors = []
def load(name):
    try:
        sklearn_module(name)
    except Exception as err:
        errors.append(repr(err))
threads = [threading.Thread(target=load, args=(name,)) for name in names]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(errors)
"""


def test_a_module_is_scikit_learns():
    import sklearn.cluster

    assert sklearn_module("cluster") is sklearn.cluster
    assert sklearn_module("cluster").KMeans is sklearn.cluster.KMeans


def test_threads_that_import_it_first_together_all_get_it():
    # without the lock, 1 run in 6 of such a race saw a half-initialised sklearn.base
    result = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
