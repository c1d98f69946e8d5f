import numpy as np

from napari_autoencoders.sample_data import mnist_digits, noisy_fluorescence


def test_noisy_fluorescence_layers():
    (noisy, noisy_meta, noisy_type), (clean, clean_meta, clean_type) = noisy_fluorescence()
    assert noisy_type == clean_type == "image"
    assert noisy_meta == {"name": "noisy fluorescence"}
    assert clean_meta == {"name": "clean fluorescence", "visible": False}
    assert noisy.shape == clean.shape == (512, 512)
    assert noisy.dtype == np.uint16
    assert clean.dtype == np.float32


def test_noisy_fluorescence_is_the_clean_image_plus_noise():
    (noisy, _, _), (clean, _, _) = noisy_fluorescence()
    # Camera units: offset 100, intensity 1 of the phantom = 1000 counts.
    assert 100 <= clean.min() and clean.max() <= 1100
    residual = noisy.astype(np.float64) - clean
    assert abs(residual.mean()) < 2  # the noise is unbiased
    # Poisson with 20 photons at intensity 1 plus read noise 0.02: tens of counts.
    assert 10 < residual.std() < 150
    assert np.corrcoef(noisy.ravel(), clean.ravel())[0, 1] > 0.8


def test_mnist_digits_layer():
    [(images, meta, layer_type)] = mnist_digits()
    assert layer_type == "image"
    assert meta["name"] == "MNIST digits"
    labels = meta["metadata"]["labels"]
    assert images.shape == (5000, 28, 28)
    assert images.dtype == np.uint8
    assert labels.shape == (5000,)
    assert labels.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10))
    # Dark background, bright strokes.
    assert images.max() == 255
    assert np.median(images) == 0
