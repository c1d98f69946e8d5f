"""napari widgets: thin Qt front ends that run the core in worker threads.

``TrainWidget`` trains a model on an image layer, ``ApplyWidget`` applies one
and adds the result as a new layer; both share the session's models
(:func:`.session.session_models`).
"""

from .apply import ApplyWidget
from .train import TrainWidget

__all__ = ["ApplyWidget", "TrainWidget"]
