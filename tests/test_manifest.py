from pathlib import Path

import pytest
from npe2 import PluginManager, PluginManifest

import napari_autoencoders

NAME = "napari-autoencoders"


@pytest.fixture(scope="module")
def manifest():
    return PluginManifest.from_distribution(NAME)


@pytest.fixture(scope="module")
def plugin_manager():
    # A private manager: discovery goes through the installed entry point,
    # without touching napari's global plugin state.
    manager = PluginManager()
    manager.discover()
    manager.activate(NAME)
    return manager


def test_manifest_is_found_through_the_entry_point(manifest):
    assert manifest.name == NAME
    assert manifest.display_name == "Autoencoders"
    assert manifest.package_metadata.version == napari_autoencoders.__version__


def test_package_manifest_is_the_repository_manifest():
    package_file = Path(napari_autoencoders.__file__).parent / "napari.yaml"
    repo_file = Path(__file__).parents[1] / "napari.yaml"
    assert package_file.read_text() == repo_file.read_text()


def test_widgets(manifest):
    commands = {command.id: command.python_name for command in manifest.contributions.commands}
    widgets = {widget.display_name: commands[widget.command] for widget in manifest.contributions.widgets}
    assert widgets == {
        "Train autoencoder": "napari_autoencoders.widgets.train:TrainWidget",
        "Apply model": "napari_autoencoders.widgets.apply:ApplyWidget",
        "Generate images": "napari_autoencoders.widgets.generate:GenerateWidget",
        "Latent scatter": "napari_autoencoders.widgets.latent:LatentWidget",
    }


def test_sample_data(manifest):
    samples = {sample.key: sample.display_name for sample in manifest.contributions.sample_data}
    assert samples == {
        "noisy_fluorescence": "Noisy fluorescence (with clean reference)",
        "mnist_digits": "MNIST digits (5,000)",
    }


def test_every_python_name_imports(manifest):
    manifest.validate_imports()


@pytest.mark.parametrize(
    ("key", "layer_names"),
    [
        ("noisy_fluorescence", ["noisy fluorescence", "clean fluorescence"]),
        ("mnist_digits", ["MNIST digits"]),
    ],
)
def test_sample_opens_through_the_plugin_manager(plugin_manager, key, layer_names):
    [sample] = [s for s in plugin_manager.get_manifest(NAME).contributions.sample_data if s.key == key]
    layers = sample.open(_registry=plugin_manager.commands)
    assert [meta["name"] for _, meta, _ in layers] == layer_names
    assert all(layer_type == "image" for _, _, layer_type in layers)
