"""Latent codes of MNIST digits against their labels, beside raw pixels, PCA and UMAP.

Autoencoders are trained (task ``reconstruct``) on 4,000 digits of the MNIST
sample and encode the 1,000 others (a seeded random split: the sample is
sorted by digit); k-means NMI (k = 10) and the
cross-validated 5-nearest-neighbour accuracy measure how well the codes
separate the digits. A second table times the encoding of 100,000 frames.
"""

from __future__ import annotations

import time
import numpy as np
from mnist import HELD_OUT, split
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import normalized_mutual_info_score
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from napari_autoencoders.core.clustering import embed
from napari_autoencoders.core.config import Config, DataConfig, ModelConfig, TrainingConfig
from napari_autoencoders.core.latent import iter_encode_frames, run as run_steps
from napari_autoencoders.core.training import fit

TRAIN, TEST = 4000, HELD_OUT


def autoencoder_config(latent_dim: int, steps: int, *, architecture: str = "autoencoder") -> Config:
    """A reconstruct model for 28x28 digits; ``architecture`` is the hook for the VAE."""
    return Config(
        model=ModelConfig(
            architecture=architecture, depth=2, width=32, latent_dim=latent_dim, input_size=28
        ),
        # no flips or rotations: they would mix up 6 and 9, 2 and 5
        data=DataConfig(axes="SYX", patch_size=28, batch_size=64, augment=False),
        training=TrainingConfig(
            task="reconstruct", epochs=max(1, steps // 100), steps_per_epoch=min(100, steps),
            patience=10**6, learning_rate=2e-3, seed=0,
        ),
    )


#: Models compared: name, architecture, latent size. Add ("VAE", "vae", 10) once it exists.
MODELS = [("autoencoder", "autoencoder", 10), ("autoencoder", "autoencoder", 2)]


def scores(codes: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """k-means NMI (k = 10) and 5-fold cross-validated 5-NN accuracy of ``codes`` (N, D)."""
    clusters = KMeans(n_clusters=10, n_init=10, random_state=0).fit_predict(codes)
    nmi = normalized_mutual_info_score(labels, clusters)
    accuracy = cross_val_score(KNeighborsClassifier(5), codes, labels, cv=5).mean()
    return nmi, accuracy


def baselines(pixels: np.ndarray, *, umap_too: bool) -> dict[str, np.ndarray]:
    """Raw pixels (N, 784), PCA-2, PCA-10 and, if asked and installed, UMAP-2."""
    found = {
        "raw pixels": pixels,
        "PCA-2 of pixels": PCA(2, random_state=0).fit_transform(pixels),
        "PCA-10 of pixels": PCA(10, random_state=0).fit_transform(pixels),
    }
    if umap_too:
        try:
            import umap
        except ImportError:
            return found
        found["UMAP-2 of pixels"] = umap.UMAP(random_state=0).fit_transform(pixels)
    return found


def quality_rows(steps: int, test: int, *, umap_too: bool) -> list[list[str]]:
    train_images, test_images, _, test_labels = split()
    train_images = train_images.astype(np.float32)
    test_images, test_labels = test_images[:test].astype(np.float32), test_labels[:test]
    rows = []
    codes = baselines(test_images.reshape(test, -1) / 255, umap_too=umap_too)
    seconds = dict.fromkeys(codes, 0.0)
    for name, architecture, dim in MODELS:
        start = time.perf_counter()
        model = fit(autoencoder_config(dim, steps, architecture=architecture), train_images)
        key = f"{name}, {dim}-D latent ({steps} steps)"
        codes[key] = run_steps(iter_encode_frames(model, test_images, axes="SYX")).latents
        seconds[key] = time.perf_counter() - start
        if "UMAP-2 of pixels" in codes and dim > 2:  # as the Latent scatter draws it with UMAP
            projected = f"{key} -> UMAP-2"
            start = time.perf_counter()
            codes[projected] = embed(codes[key], "umap", seed=0)
            seconds[projected] = seconds[key] + time.perf_counter() - start
    for key, values in codes.items():
        nmi, accuracy = scores(values, test_labels)
        rows.append([key, str(values.shape[1]), f"{nmi:.3f}", f"{accuracy:.3f}", f"{seconds[key]:.0f}"])
    return rows


def timing_rows(count: int) -> list[list[str]]:
    """Seconds to encode ``count`` synthetic 28x28 frames with the 10-D model (untrained)."""
    model = fit(autoencoder_config(10, 1), np.random.default_rng(0).random((64, 28, 28), np.float32))
    frames = np.random.default_rng(1).random((count, 28, 28), dtype=np.float32)
    start = time.perf_counter()
    run_steps(iter_encode_frames(model, frames, axes="SYX"))
    took = time.perf_counter() - start
    return [[f"{count:,}", "28x28", f"{took:.1f}", f"{count / took:,.0f}"]]


def run(quick: bool = False) -> list[dict]:
    """Return the latent-space tables (``quick``: tiny sizes for the smoke test)."""
    steps, test, count = (5, 200, 1000) if quick else (4000, TEST, 100_000)
    return [
        {
            "title": "Latent codes of held-out MNIST digits",
            "note": f"Trained on {TRAIN:,} digits of the MNIST sample, encoded {test:,} "
            "held-out ones (random split, seed 0, `bench/mnist.py`). NMI: k-means with "
            "k = 10 against the digit labels; 5-NN: 5-fold cross-validated accuracy of a "
            "5-nearest-neighbour classifier. "
            "\"-> UMAP-2\": the codes projected by UMAP, as the Latent scatter widget draws them.",
            "header": ["codes", "dimensions", "k-means NMI", "5-NN accuracy", "seconds"],
            "rows": quality_rows(steps, test, umap_too=not quick),
        },
        {
            "title": "Encoding speed",
            "header": ["frames", "size", "seconds", "frames per second"],
            "rows": timing_rows(count),
        },
    ]
