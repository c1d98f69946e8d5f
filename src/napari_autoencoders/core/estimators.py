"""scikit-learn's modules, imported when first used, one thread at a time.

scikit-learn takes about 2 s to import, which every command of the command
line would wait for, so the estimators (clusters, projections, the neighbour
graph, a VAE's latent density) import it where they run. Two threads that
import it first at the same moment (a training's neighbour term beside a
clustering in another worker) can see its modules half initialised
("cannot import name 'clone' from partially initialized module"): the lock
lets the first import finish before another thread goes on.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType

_IMPORTING = threading.Lock()


def sklearn_module(name: str) -> ModuleType:
    """The module ``sklearn.<name>``, e.g. ``sklearn_module("cluster").KMeans``."""
    with _IMPORTING:
        return importlib.import_module(f"sklearn.{name}")
