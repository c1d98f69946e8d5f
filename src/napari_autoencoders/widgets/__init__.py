"""napari widgets: thin Qt front ends that run the core in worker threads.

``TrainWidget`` trains a model on an image layer, ``ApplyWidget`` applies one
and adds the result as a new layer, ``GenerateWidget`` samples and explores
a model's latent space; all share the session's models
(:func:`.session.session_models`).
"""

from .apply import ApplyWidget
from .generate import GenerateWidget
from .train import TrainWidget

__all__ = ["ApplyWidget", "GenerateWidget", "TrainWidget"]
