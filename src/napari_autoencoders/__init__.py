"""Train and apply convolutional autoencoders on napari image layers."""

__version__ = "0.1.0"
