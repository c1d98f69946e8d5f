"""The Python API: the package's names, and the README's example run for real."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import napari_autoencoders as nae

ROOT = Path(__file__).resolve().parents[1]
#: The example's trainings, shortened for the test suite: (as written, as run).
SHORTER = [
    ("time_budget=60", 'epochs=1, steps_per_epoch=2, device="cpu"'),
    ("epochs=5", 'epochs=1, steps_per_epoch=2, device="cpu"'),
]


def python_example(path: Path) -> str:
    """The first ```python block of a Markdown file."""
    return re.search(r"```python\n(.*?)```", path.read_text(), re.S).group(1)


def test_the_readme_and_the_docs_show_the_same_example():
    readme = ROOT / "README.md"
    section = readme.read_text().split("## Python API", 1)[1]
    assert python_example(ROOT / "docs" / "python-api.md") in section


@pytest.mark.slow
def test_the_python_api_example_runs(tmp_path, monkeypatch):
    code = python_example(ROOT / "docs" / "python-api.md")
    for written, run in SHORTER:
        assert written in code
        code = code.replace(written, run)
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(code, "python-api.md", "exec"), names)

    assert names["denoised"].shape == names["noisy"].shape
    assert names["denoised"].dtype == np.float32
    assert (tmp_path / "denoiser.safetensors").is_file()
    assert names["samples"].shape == (16, 28, 28)
    assert names["codes"].shape == (100, 16)
    assert names["mosaic"].shape == (280, 280)


@pytest.mark.slow
def test_the_package_imports_torch_only_when_its_api_is_used():
    code = "import sys, napari_autoencoders as nae; assert 'torch' not in sys.modules; nae.train"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_package_names_its_api():
    assert set(nae.__all__) <= set(dir(nae))
    for name in nae.__all__:
        assert getattr(nae, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'predict'"):
        nae.predict  # noqa: B018  (models predict: model.predict)


def test_inference_leaves_the_model_where_it_was(tmp_path):
    frames = np.random.default_rng(0).random((8, 16, 16), dtype=np.float32)
    options = {"epochs": 1, "steps_per_epoch": 1, "batch_size": 2, "width": 4, "device": "cpu"}
    model = nae.train(frames, task="vae", **options)
    network = model.network
    weights = {name: tensor.clone() for name, tensor in network.state_dict().items()}
    model.predict(frames, device="cpu")
    model.encode(frames)
    model.sample(2)
    assert model.network is network and network.training is False
    for name, tensor in network.state_dict().items():
        assert tensor.device.type == "cpu" and tensor.equal(weights[name])
    copy = model.network_on("cpu")
    assert copy is not network and not copy.training


def test_a_collection_of_frames_to_embed_trains_by_default():
    stacks = [np.random.default_rng(s).random((20, 16, 16), dtype=np.float32) for s in range(2)]
    collection = nae.ImageCollection(stacks, "SYX", cache_mb=1)
    model = nae.train(collection, task="reconstruct", epochs=1, steps_per_epoch=2, device="cpu")
    assert model.config.training.neighbour_weight == 0  # it compares frames held in memory
    assert model.encode(stacks[0], device="cpu").shape[0] == 20


def test_a_collection_of_images_trains_with_its_axes():
    stacks = [np.random.default_rng(s).random((2, 40, 48), dtype=np.float32) for s in range(2)]
    collection = nae.ImageCollection(stacks, "ZYX", cache_mb=1)
    options = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 2, "width": 4, "depth": 1}
    model = nae.train(collection, patch_size=16, device="cpu", **options)
    assert model.config.data.axes == "ZYX"
    assert model.predict(stacks[0], device="cpu").shape == stacks[0].shape
