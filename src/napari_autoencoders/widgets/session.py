"""Models trained or loaded in this session, shared by the Train and Apply widgets."""

from __future__ import annotations

from functools import lru_cache

from qtpy.QtCore import QObject, Signal

from ..core.model import TrainedModel


class ModelRegistry(QObject):
    """Named models, in the order they were added.

    Each name ends in a running number (``"denoise (paired) on cells #2"``),
    so models trained twice on the same layer stay apart.
    """

    #: Emitted with the new model's name after :meth:`add`.
    added = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._models: dict[str, TrainedModel] = {}
        self._count = 0

    def add(self, model: TrainedModel, label: str) -> str:
        """Store ``model`` as ``"<label> #<n>"`` and return that name."""
        self._count += 1
        name = f"{label} #{self._count}"
        self._models[name] = model
        self.added.emit(name)
        return name

    def names(self) -> list[str]:
        """Names of the stored models, oldest first."""
        return list(self._models)

    def __getitem__(self, name: str) -> TrainedModel:
        return self._models[name]

    def __len__(self) -> int:
        return len(self._models)


@lru_cache(maxsize=1)
def session_models() -> ModelRegistry:
    """Return the registry shared by all widgets of this session.

    Created on first use rather than at import, when a Qt application exists.
    """
    return ModelRegistry()
