"""Train and apply convolutional autoencoders on napari image layers, or on arrays.

>>> import napari_autoencoders as nae                                  # doctest: +SKIP
>>> model = nae.train(noisy, task="denoise", time_budget=60)           # doctest: +SKIP
>>> denoised = model.predict(noisy)                                    # doctest: +SKIP
>>> model.save("denoiser.safetensors")                                 # doctest: +SKIP
>>> model = nae.load_model("denoiser.safetensors")                     # doctest: +SKIP

The names of :mod:`napari_autoencoders.api` are imported on first use, so
that napari, which imports this package to read its plugin manifest, does not
wait for torch.
"""

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ImageCollection",
    "TrainedModel",
    "Trainer",
    "TrainingEvent",
    "load_model",
    "save_model",
    "task_config",
    "train",
]


def __getattr__(name: str):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
