"""Tests for bioimage.io packages: export, the zoo's own model test, import, bad input.

Everything runs offline: packages are written to temporary folders, foreign
packages are built here with bioimageio.spec itself, and bioimageio's cache
points into a temporary folder.
"""

import dataclasses
import hashlib
import io
import sys
import zipfile

import numpy as np
import pytest
import torch

pytest.importorskip("bioimageio.core")

from bioimageio.core import test_model as run_zoo_test
from bioimageio.spec import save_bioimageio_package
from bioimageio.spec.model import v0_5
from bioimageio.spec.utils import read_yaml, write_yaml

from napari_autoencoders.cli import main
from napari_autoencoders.core.config import (
    Config,
    DataConfig,
    ModelConfig,
    TrainingConfig,
)
from napari_autoencoders.core.data.normalization import Normalizer
from napari_autoencoders.core.inference.prediction import default_ensemble, predict
from napari_autoencoders.core.io import bioimageio
from napari_autoencoders.core.io.bioimageio import (
    BioimageioError,
    MissingExtraError,
    PackageCodeError,
    architecture_source,
    export_bioimageio,
    load_bioimageio,
    read_test_sample,
)
from napari_autoencoders.core.io.foreign_packages import PackageNetwork
from napari_autoencoders.core.io.model_files import ModelFileError, load_model
from napari_autoencoders.core.latent.density import LatentDensity
from napari_autoencoders.core.latent.generation import sample
from napari_autoencoders.core.model import TrainedModel
from napari_autoencoders.core.nn.models import build_model

HISTORY = [
    {"epoch": 1, "step": 3, "loss": 0.1, "val_loss": 0.2, "elapsed": 1.5, "learning_rate": 1e-3}
]


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """bioimageio's cache in a temporary folder: nothing is read from or left in the home."""
    from bioimageio.spec import settings

    monkeypatch.setattr(settings, "cache_path", tmp_path / "bioimageio-cache")


def make_model(architecture="unet", task="denoise", *, channels=1, **fields) -> TrainedModel:
    """An untrained model with normalisations in two different units, its weights perturbed.

    A VAE or AAE has a latent density of two components, as a training leaves it.
    """
    size = fields.get("input_size", 16)
    axes = fields.pop("axes", "YXC" if channels > 1 else "YX")
    config = Config(
        model=ModelConfig(
            architecture=architecture,
            in_channels=channels,
            out_channels=channels,
            depth=fields.pop("depth", 2),
            width=8,
            blocks=1,
            latent_dim=4,
            hidden_dim=32,
            reconstruction_loss="mse",
            **fields,
        ),
        data=DataConfig(axes=axes, patch_size=size),
        training=TrainingConfig(
            task=task, mode="from-highres" if task == "superres" else "self-supervised"
        ),
    ).validate()
    torch.manual_seed(0)
    network = build_model(config.model).eval()
    with torch.no_grad():  # the upscaler's last layer starts at zero; make it do something
        for parameter in network.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    low = [10.0 * (c + 1) for c in range(channels)]
    high = [200.0 + c for c in range(channels)]
    codes = np.random.default_rng(0).normal(3.0, 0.5, (20, 4))
    return TrainedModel(
        config,
        network,
        Normalizer(low, high),
        Normalizer([5.0] * channels, [150.0] * channels),
        HISTORY,
        density=LatentDensity.fit(codes, components=2) if task in ("vae", "aae") else None,
    )


MODELS = {
    "denoise": lambda: make_model(),
    "superres": lambda: make_model("superres", "superres", factor=2),
    "reconstruct": lambda: make_model("autoencoder", "reconstruct", input_size=16),
    "vae": lambda: make_model("vae-dense", "vae", input_size=8),
    "aae": lambda: make_model("aae", "aae", input_size=16),
    "denoise-3d": lambda: make_model(spatial_dims=3, axes="ZYX"),
    # a fine-tuned prior: a residual U-Net in the Poisson-Gaussian noise's stabilised domain
    "denoise-stabilized": lambda: make_model(residual=True, noise_gain=0.02, noise_variance=1e-3),
    # a fine-tuned prior on a colour photograph: Gaussian noise, denoised as opponent colours
    "denoise-colours": lambda: make_model(
        channels=3, residual=True, noise_variance=1e-3, opponent_colours=True
    ),
    # a fine-tuned prior on noise correlated along rows: it denoises every 3rd column apart
    "denoise-phases": lambda: make_model(residual=True, noise_variance=1e-3, noise_strides=(1, 3)),
}


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """Each kind of model and its exported package."""
    folder = tmp_path_factory.mktemp("packages")
    exported = {}
    for kind, make in MODELS.items():
        model = make()
        exported[kind] = (
            model,
            export_bioimageio(model, folder / f"{kind}.zip", authors=["Ada Lovelace"]),
        )
    return exported


def image(shape=(40, 52), seed=0, low=10.0, high=200.0):
    rng = np.random.default_rng(seed)
    return (low + (high - low) * rng.random(shape)).astype(np.float32)


def read_member(package, name):
    """The bytes of file ``name`` in ``package``."""
    with zipfile.ZipFile(package) as archive:
        return archive.read(name)


def read_array(package, name):
    return np.load(io.BytesIO(read_member(package, name)))


# -- export -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["denoise", "superres", "reconstruct", "vae", "aae", "denoise-3d", "denoise-stabilized",
     "denoise-colours", "denoise-phases"],
)
def test_exported_package_passes_the_bioimageio_model_test(packages, kind):
    """bioimageio.core runs both weight formats on the test input and at several sizes.

    Nothing is skipped: the test needs the network, which it builds from the
    package's own architecture file (and TorchScript), on the CPU.
    """
    _, path = packages[kind]
    summary = run_zoo_test(path, devices=["cpu"])
    failed = [(d.name, [e.msg for e in d.errors]) for d in summary.details if d.status == "failed"]
    assert summary.status == "passed", failed
    tested = " ".join(detail.name for detail in summary.details)
    assert "pytorch_state_dict" in tested and "torchscript" in tested


def test_package_holds_weights_architecture_tests_cover_and_readme(packages):
    _, path = packages["denoise"]
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    assert {
        "rdf.yaml",
        "weights.pt",
        "weights_torchscript.pt",
        "napari_autoencoders_networks.py",
        "test_input.npy",
        "test_output.npy",
        "cover.png",
        "README.md",
    } <= names
    readme = read_member(path, "README.md").decode()
    assert (
        "self-supervised" in readme
        and "1 epoch(s)" in readme
        and "best validation loss 0.2" in readme
    )


def test_axes_sizes_halo_and_normalisation_are_described(packages):
    descr = _description(packages["denoise"][1])
    model = packages["denoise"][0]
    axes = descr.inputs[0].axes
    assert [a.type for a in axes] == ["batch", "channel", "space", "space"]
    assert axes[2].size.step == 4 and axes[2].size.min % 4 == 0  # 2**depth
    assert descr.outputs[0].axes[2].halo == bioimageio.UNET_HALO
    pre = next(step for step in descr.inputs[0].preprocessing if step.id == "scale_linear")
    low, high = model.input_norm.low[0], model.input_norm.high[0]
    assert pre.kwargs.gain[0] * low + pre.kwargs.offset[0] == pytest.approx(0)
    assert pre.kwargs.gain[0] * high + pre.kwargs.offset[0] == pytest.approx(1)
    post = next(step for step in descr.outputs[0].postprocessing if step.id == "scale_linear")
    assert (post.kwargs.gain[0], post.kwargs.offset[0]) == (145.0, 5.0)


def test_superres_output_is_factor_times_larger(packages):
    descr = _description(packages["superres"][1])
    space = [a for a in descr.outputs[0].axes if a.type == "space"]
    assert all(a.scale == pytest.approx(0.5) for a in space)
    test_in = read_array(packages["superres"][1], "test_input.npy")
    test_out = read_array(packages["superres"][1], "test_output.npy")
    assert test_out.shape[-2:] == tuple(2 * s for s in test_in.shape[-2:])


def test_dense_models_have_a_fixed_size(packages):
    for kind, size in (("reconstruct", 16), ("vae", 8), ("aae", 16)):
        descr = _description(packages[kind][1])
        assert [a.size for a in descr.inputs[0].axes if a.type == "space"] == [size, size]


def test_architecture_file_needs_torch_alone():
    """The file rebuilds each network in a namespace without napari_autoencoders."""
    source = architecture_source()
    assert "napari_autoencoders" not in source.replace("napari-autoencoders", "")
    namespace = {"__name__": "napari_autoencoders_networks"}
    exec(compile(source, "napari_autoencoders_networks.py", "exec"), namespace)  # noqa: S102 (our own source)
    for make in MODELS.values():
        model = make()
        rebuilt = namespace["build_network"](**dataclasses.asdict(model.config.model))
        packaged = bioimageio._packaged_network(model)  # wrapped where it denoises phases
        rebuilt.load_state_dict(packaged.state_dict(), strict=True)
        shape = [model.config.model.input_size] * model.config.model.spatial_dims
        shape[-2:] = [side * stride for side, stride in zip(shape[-2:], model.config.model.noise_strides)]
        x = torch.rand(2, model.config.model.in_channels, *shape)
        with torch.no_grad():
            torch.testing.assert_close(rebuilt.eval()(x), packaged(x))


def test_sample_becomes_the_test_input_and_cover(tmp_path):
    model = make_model(channels=2)
    sample = image((3, 50, 70, 2))  # stack of two-channel planes, axes SYXC
    path = export_bioimageio(
        model, tmp_path / "m.zip", authors=["A"], sample=sample, sample_axes="SYXC"
    )
    test_input = read_array(path, "test_input.npy")
    assert test_input.shape == (1, 2, 48, 68)  # largest 36 + n * 4 that fits
    np.testing.assert_array_equal(test_input[0], np.moveaxis(sample[0, 1:49, 1:69], -1, 0))
    import imageio.v3 as iio

    assert iio.imread(read_member(path, "cover.png")).shape == (48, 136)


def test_a_dense_model_tests_a_crop_of_its_input_size(tmp_path):
    sample = image((40, 40))
    model = make_model("autoencoder", "reconstruct", input_size=16)
    path = export_bioimageio(model, tmp_path / "m.zip", authors=["A"], sample=sample)
    test_input = read_array(path, "test_input.npy")
    np.testing.assert_array_equal(test_input[0, 0], sample[12:28, 12:28])


def test_only_the_test_part_of_a_lazy_sample_is_read():
    da = pytest.importorskip("dask.array")
    read = []

    def record(block, block_info=None):
        if block_info:  # None while dask guesses the output's type
            read.append(block_info[0]["chunk-location"])
        return block

    stack = np.random.default_rng(0).random((3, 600, 600), dtype=np.float32)
    lazy = da.from_array(stack, chunks=(1, 100, 100)).map_blocks(record, dtype=np.float32)
    part = read_test_sample(make_model(), lazy, "SYX")

    np.testing.assert_array_equal(part, stack[:1, 172:428, 172:428])  # 256 about the centre
    assert sorted(set(read)) == [(0, row, col) for row in range(1, 5) for col in range(1, 5)]
    nested = read_test_sample(make_model(), stack[:, :40, :50].tolist(), "SYX")  # a list too
    np.testing.assert_array_equal(nested, stack[:1, :40, :50])


def test_a_small_sample_is_mirrored_out_to_the_least_input(tmp_path):
    sample = image((20, 30))
    path = export_bioimageio(make_model(), tmp_path / "m.zip", authors=["A"], sample=sample)
    test_input = read_array(path, "test_input.npy")
    assert test_input.shape == (1, 1, 36, 36)
    np.testing.assert_array_equal(test_input[0, 0, :20, :30], sample)
    np.testing.assert_array_equal(test_input[0, 0, 20:36, :30], sample[::-1][:16])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"path": "model.safetensors"}, "name the output 'model.zip'"),
        ({"authors": [" "]}, "at least one author"),
        ({"license": "free for all"}, "not an SPDX licence identifier"),
        ({"sample": np.zeros((64, 64, 3), np.float32), "sample_axes": "YXC"}, "has 3 channel"),
        ({"sample": np.full((64, 64), np.nan, np.float32)}, "the sample has 4096 NaN or infinite"),
        ({"sample": np.ones((64, 64), np.complex64)}, "the sample is complex; give its magnitude"),
    ],
)
def test_bad_export_options_are_refused(tmp_path, options, message):
    options = {"authors": ["Ada"], **options}
    path = tmp_path / options.pop("path", "model.zip")
    with pytest.raises(ValueError, match=message):
        export_bioimageio(make_model(), path, **options)
    assert not path.exists()


def test_a_failed_export_leaves_the_previous_package_whole(tmp_path, monkeypatch):
    import bioimageio.spec

    path = export_bioimageio(make_model(), tmp_path / "model.zip", authors=["Ada"])
    before = path.read_bytes()

    def fails(descr, output_path):
        output_path.write_bytes(b"half a package")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bioimageio.spec, "save_bioimageio_package", fails)
    with pytest.raises(OSError, match="No space left"):
        export_bioimageio(make_model(), path, authors=["Ada"])
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.zip"]


def test_a_package_opened_from_another_tool_is_not_exported_again(tmp_path, foreign_package):
    model = load_bioimageio(foreign_package)
    with pytest.raises(ValueError, match="share that package itself"):
        export_bioimageio(model, tmp_path / "again.zip", authors=["Ada"])


def test_missing_extra_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bioimageio.spec", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'napari-autoencoders\[bioimageio\]'"):
        export_bioimageio(make_model(), tmp_path / "m.zip", authors=["Ada"])
    with pytest.raises(ImportError):
        load_model(tmp_path / "m.zip")


def test_a_3d_model_is_described_with_a_z_axis_and_a_volume(packages):
    path = packages["denoise-3d"][1]
    descr = _description(path)
    axes = descr.inputs[0].axes
    assert [str(a.id) for a in axes[2:]] == ["z", "y", "x"]
    assert axes[2].size.step == 4 and axes[2].size.min % 4 == 0  # 2**depth in Z too
    assert [a.halo for a in descr.outputs[0].axes[2:]] == [bioimageio.UNET_HALO_Z, *[bioimageio.UNET_HALO] * 2]
    assert read_array(path, "test_input.npy").shape == (1, 1, bioimageio.TEST_DEPTH, 64, 64)
    assert "3d" in descr.tags and "3D volumes" in descr.description


def test_a_3d_sample_becomes_the_test_volume(tmp_path):
    volume = image((6, 40, 52))  # thinner than the least Z: mirrored out to it
    path = export_bioimageio(
        MODELS["denoise-3d"](), tmp_path / "v.zip", authors=["A"], sample=volume, sample_axes="ZYX"
    )

    test_input = read_array(path, "test_input.npy")
    assert test_input.shape == (1, 1, 12, 40, 52)
    np.testing.assert_array_equal(test_input[0, 0, :6], volume)


def test_our_3d_package_opens_as_the_exported_model(packages):
    model, path = packages["denoise-3d"]
    loaded = load_model(path)
    data = image((10, 24, 20))

    assert loaded.config == model.config and loaded.config.model.spatial_dims == 3
    np.testing.assert_array_equal(predict(loaded, data, device="cpu"), predict(model, data, device="cpu"))


# -- import: our own packages --------------------------------------------------


@pytest.mark.parametrize("kind", ["denoise", "superres", "reconstruct", "vae", "aae", "denoise-phases"])
def test_our_package_opens_as_the_exported_model(packages, kind):
    model, path = packages[kind]
    loaded = load_model(path)
    assert loaded.config == model.config
    assert (loaded.input_norm, loaded.target_norm, loaded.history) == (
        model.input_norm,
        model.target_norm,
        model.history,
    )
    size = model.config.model.input_size if kind in ("reconstruct", "vae", "aae") else 40
    data = image((size, size))
    np.testing.assert_array_equal(
        predict(loaded, data, device="cpu"), predict(model, data, device="cpu")
    )


# -- import: foreign packages --------------------------------------------------


ARCHITECTURE = '''
import torch
from torch import nn


class TwoLayers(nn.Module):
    """Two convolutions; takes (B, Y, X, C), as some tools do."""

    def __init__(self, channels):
        super().__init__()
        self.first = nn.Conv2d(channels, 4, 3, padding=1)
        self.second = nn.Conv2d(4, channels, 3, padding=1)

    def forward(self, x):
        x = x.permute(0, 3, 1, 2)
        return self.second(torch.relu(self.first(x))).permute(0, 2, 3, 1)
'''


def _foreign_network():
    """The foreign network, built from its architecture file."""
    namespace = {}
    exec(ARCHITECTURE, namespace)  # noqa: S102 (the test's own source)
    torch.manual_seed(1)
    return namespace["TwoLayers"](channels=1).eval()


def build_foreign_package(folder, *, weights="pytorch_state_dict"):
    """A tiny package of another tool: axes (batch, y, x, channel), min 8 + n * 8, its own processing.

    ``weights``: ``"pytorch_state_dict"``, ``"torchscript"`` or ``"both"``.
    """
    folder.mkdir(exist_ok=True)
    network = _foreign_network()
    (folder / "two_layers.py").write_text(ARCHITECTURE)
    torch.save(network.state_dict(), folder / "weights.pt")
    traced = torch.jit.trace(network, torch.rand(1, 16, 16, 1))
    traced.save(str(folder / "weights_ts.pt"))
    test_in = image((1, 16, 16, 1), low=0, high=1000)
    x = torch.from_numpy(test_in * 0.001 - 0.5)
    with torch.no_grad():
        test_out = (network(x).numpy() * 2.0 + 3.0).astype(np.float32)
    np.save(folder / "in.npy", test_in)
    np.save(folder / "out.npy", test_out)
    space = [
        v0_5.SpaceInputAxis(id=v0_5.AxisId(a), size=v0_5.ParameterizedSize(min=8, step=8))
        for a in "yx"
    ]
    version = v0_5.Version(torch.__version__.split("+")[0])
    entries = {
        "pytorch_state_dict": v0_5.PytorchStateDictWeightsDescr(
            source=folder / "weights.pt",
            architecture=v0_5.ArchitectureFromFileDescr(
                source=folder / "two_layers.py", callable="TwoLayers", kwargs={"channels": 1}
            ),
            pytorch_version=version,
        ),
        "torchscript": v0_5.TorchscriptWeightsDescr(
            source=folder / "weights_ts.pt", pytorch_version=version
        ),
    }
    descr = v0_5.ModelDescr(
        name="two layers",
        description="a foreign test model",
        authors=[v0_5.Author(name="Someone Else")],
        cite=[v0_5.CiteEntry(text="none", doi=v0_5.Doi("10.1000/182"))],
        license="MIT",
        documentation=v0_5.FileDescr(source=_readme(folder)),
        inputs=[
            v0_5.InputTensorDescr(
                id=v0_5.TensorId("raw"),
                axes=[v0_5.BatchAxis(), *space, v0_5.ChannelAxis(channel_names=["c"])],
                test_tensor=v0_5.FileDescr(source=folder / "in.npy"),
                preprocessing=[
                    v0_5.ScaleLinearDescr(kwargs=v0_5.ScaleLinearKwargs(gain=0.001, offset=-0.5))
                ],
            )
        ],
        outputs=[
            v0_5.OutputTensorDescr(
                id=v0_5.TensorId("restored"),
                axes=[
                    v0_5.BatchAxis(),
                    *[
                        v0_5.SpaceOutputAxis(
                            id=v0_5.AxisId(a),
                            size=v0_5.SizeReference(
                                tensor_id=v0_5.TensorId("raw"), axis_id=v0_5.AxisId(a)
                            ),
                        )
                        for a in "yx"
                    ],
                    v0_5.ChannelAxis(channel_names=["c"]),
                ],
                test_tensor=v0_5.FileDescr(source=folder / "out.npy"),
                postprocessing=[
                    v0_5.ScaleLinearDescr(kwargs=v0_5.ScaleLinearKwargs(gain=2.0, offset=3.0))
                ],
            )
        ],
        weights=v0_5.WeightsDescr(**(entries if weights == "both" else {weights: entries[weights]})),
    )
    return save_bioimageio_package(descr, output_path=folder / "foreign.zip"), network


def _readme(folder):
    (folder / "README.md").write_text("# two layers\n")
    return folder / "README.md"


@pytest.fixture(scope="module")
def foreign_package(tmp_path_factory):
    return build_foreign_package(tmp_path_factory.mktemp("foreign"), weights="both")[0]


def expected_foreign(network, data):
    """What the foreign model gives for ``data`` (Y, X): its own processing around its network."""
    x = torch.from_numpy((data * 0.001 - 0.5).astype(np.float32))[None, :, :, None]
    with torch.no_grad():
        return network(x).numpy()[0, :, :, 0] * 2.0 + 3.0


@pytest.mark.parametrize("weights", ["pytorch_state_dict", "torchscript"])
def test_foreign_package_predicts_with_our_tiling(tmp_path, weights):
    path, network = build_foreign_package(tmp_path / weights, weights=weights)
    assert run_zoo_test(path, devices=["cpu"]).status == "passed"  # a valid package to begin with
    model = load_model(path, run_package_code=weights == "pytorch_state_dict")
    assert isinstance(model.network, PackageNetwork)
    assert model.config.data.axes == "YX" and model.config.model.factor == 1
    assert not default_ensemble(model, (37, 45))  # its outputs might be directional
    data = image((37, 45), low=0, high=1000)  # not a multiple of the step: padded inside
    result = predict(model, data, device="cpu", tile=24, overlap=8)
    assert result.shape == data.shape
    expected = expected_foreign(network, data)
    # the image is padded to 40 x 48 by reflection, the network itself pads with zeros: the last
    # 2 rows and columns (the reach of its two 3x3 convolutions) see different context
    whole = predict(model, data, device="cpu", tile=64)
    np.testing.assert_allclose(whole[:-2, :-2], expected[:-2, :-2], rtol=1e-4, atol=1e-3)
    # tiles blend where they overlap, and their border pixels see padding, not neighbours
    np.testing.assert_allclose(result[:-2, :-2], expected[:-2, :-2], atol=0.05)


@pytest.fixture
def code_refused(monkeypatch):
    """Make the building of a network by a package's own code fail the test."""
    from bioimageio.core.backends import pytorch_backend

    def refused(*args, **kwargs):
        raise AssertionError("the package's code ran")

    with monkeypatch.context() as patch:
        patch.setattr(pytorch_backend, "load_torch_model", refused)
        yield


def test_a_packages_own_code_builds_its_network_only_when_allowed(tmp_path, code_refused):
    path, _ = build_foreign_package(tmp_path, weights="pytorch_state_dict")
    with pytest.raises(PackageCodeError, match=r"two_layers.py, TwoLayers.*--run-package-code"):
        load_model(path)


def test_a_package_that_runs_its_code_opens_when_allowed(tmp_path):
    path, network = build_foreign_package(tmp_path, weights="pytorch_state_dict")
    data = image((40, 48), low=0, high=1000)
    np.save(tmp_path / "in.npy", data)
    arguments = ["apply", "--model", str(path), "--input", str(tmp_path / "in.npy"), "--quiet"]
    assert main([*arguments, "--output", str(tmp_path / "refused.npy")]) == 2
    assert not (tmp_path / "refused.npy").exists()
    assert main([*arguments, "--output", str(tmp_path / "out.npy"), "--run-package-code"]) == 0
    expected = expected_foreign(network, data)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy")[:-2, :-2], expected[:-2, :-2], atol=0.05)


def test_unreadable_torchscript_weights_fall_back_to_the_allowed_code(tmp_path):
    path, network = build_foreign_package(tmp_path / "built", weights="both")
    folder = tmp_path / "unpacked"
    rdf = edit_package(path, folder, lambda rdf: None)
    (folder / "weights_ts.pt").write_bytes(b"from a newer torch")
    description = read_yaml(rdf)
    digest = hashlib.sha256(b"from a newer torch").hexdigest()
    description["weights"]["torchscript"]["sha256"] = digest
    write_yaml(description, rdf)
    with pytest.raises(PackageCodeError, match="its torchscript weights cannot be read"):
        load_model(rdf)
    assert isinstance(load_model(rdf, run_package_code=True).network, PackageNetwork)


def test_torchscript_weights_open_first_and_run_no_package_code(tmp_path, code_refused):
    path, network = build_foreign_package(tmp_path, weights="both")
    model = load_model(path)
    data = image((40, 48), low=0, high=1000)
    whole = predict(model, data, device="cpu", tile=64)
    np.testing.assert_allclose(whole[:-2, :-2], expected_foreign(network, data)[:-2, :-2], atol=1e-3)


def edit_package(source, folder, edit):
    """Unpack ``source`` into ``folder``, change its rdf.yaml with ``edit(rdf)``; return the yaml."""
    zipfile.ZipFile(source).extractall(folder)
    rdf = read_yaml(folder / "rdf.yaml")
    edit(rdf)
    write_yaml(rdf, folder / "rdf.yaml")
    return folder / "rdf.yaml"


def repack(folder, path, compression=zipfile.ZIP_STORED):
    """Zip the files of ``folder`` (an unpacked package) into the package ``path``; return it."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for member in folder.iterdir():
            archive.write(member, member.name)
    return path


def replace_weights(rdf, content):
    """Write ``content`` as the unpacked package's weights.pt, with its hash, as if exported so."""
    (rdf.parent / "weights.pt").write_bytes(content)
    description = read_yaml(rdf)
    description["weights"]["pytorch_state_dict"]["sha256"] = hashlib.sha256(content).hexdigest()
    write_yaml(description, rdf)


def _keras_only(rdf):
    rdf["weights"] = {"keras_hdf5": {"source": "weights.pt", "tensorflow_version": "2.15"}}


def _z_axis(rdf):
    for tensor in rdf["inputs"] + rdf["outputs"]:
        space = dict(next(a for a in tensor["axes"] if a.get("id") == "y"))
        tensor["axes"].insert(1, {**space, "id": "z"})


def _scale_range(rdf):
    rdf["inputs"][0]["preprocessing"] = [
        {"id": "scale_range", "kwargs": {"min_percentile": 1, "max_percentile": 99}}
    ]


def _two_outputs(rdf):
    second = {**rdf["outputs"][0], "id": "second"}
    second.pop("test_tensor", None)
    rdf["outputs"].append(second)


def _size_offset(rdf):
    """An output 4 pixels smaller than the input along Y, as a network of valid convolutions gives."""
    next(a for a in rdf["outputs"][0]["axes"] if a.get("id") == "y")["size"]["offset"] = -4


def _index_axis(rdf):
    rdf["outputs"][0]["axes"] = [{"type": "batch"}, {"type": "index", "id": "label", "size": 3}]


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            _keras_only,
            "weights in keras_hdf5; napari-autoencoders can open torchscript or pytorch_state_dict",
        ),
        (_z_axis, "3D input \\(space axis 'z'\\)"),
        (_scale_range, "preprocessing step 'scale_range' is not supported"),
        (_two_outputs, "1 input\\(s\\) and 2 output\\(s\\)"),
        (_index_axis, "index axis 'label'"),
        (_size_offset, "output axis 'y' has a size offset of -4 pixels from the input's"),
    ],
)
def test_unsupported_packages_say_what_is_unsupported(tmp_path, foreign_package, edit, message):
    rdf = edit_package(foreign_package, tmp_path / "unpacked", edit)
    with pytest.raises(BioimageioError, match=message) as error:
        load_model(rdf)
    assert isinstance(error.value, ModelFileError)


def test_weights_that_do_not_match_their_hash_are_refused(packages, tmp_path):
    rdf = edit_package(packages["denoise"][1], tmp_path / "unpacked", lambda rdf: None)
    (tmp_path / "unpacked" / "weights.pt").write_bytes(b"tampered")
    with pytest.raises(ModelFileError, match="inconsistent: SHA256 mismatch"):
        load_model(rdf)


def _broken_norm(fault):
    def edit(rdf):
        norm = rdf["config"]["napari_autoencoders"]["input_norm"]
        if fault == "equal range":
            norm["high"] = norm["low"]
        else:
            norm["low"], norm["high"] = norm["low"] * 3, norm["high"] * 3

    return edit


@pytest.mark.parametrize(
    "fault, message",
    [
        ("equal range", "input_norm: .*low < high"),
        ("three channels", "input_norm has 3 channel\\(s\\) but the network 1"),
        ("NaN weights", "NaN or infinite value"),
    ],
)
def test_our_package_with_a_broken_normalisation_or_weights_is_refused(
    packages, tmp_path, fault, message
):
    folder = tmp_path / "unpacked"
    edit = (lambda rdf: None) if fault == "NaN weights" else _broken_norm(fault)
    rdf = edit_package(packages["denoise"][1], folder, edit)
    if fault == "NaN weights":  # saved with its hash, as a tool that diverged would write it
        state = torch.load(folder / "weights.pt", weights_only=True)
        name = next(key for key, value in state.items() if value.is_floating_point())
        state[name] = torch.full_like(state[name], float("nan"))
        torch.save(state, folder / "weights.pt")
        description = read_yaml(rdf)
        digest = hashlib.sha256((folder / "weights.pt").read_bytes()).hexdigest()
        description["weights"]["pytorch_state_dict"]["sha256"] = digest
        write_yaml(description, rdf)
    with pytest.raises(ModelFileError, match=message):
        load_model(rdf)


def test_missing_or_invalid_package_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "missing.zip")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a valid bioimage.io model package"):
        load_model(tmp_path / "junk.zip")


def _description(path):
    from bioimageio.spec import load_model_description

    return load_model_description(path, perform_io_checks=False)


def test_the_readme_says_that_declipping_is_not_in_the_package():
    clipped = make_model(residual=True, noise_variance=1e-3, clip_low=0.0, clip_high=255.0)
    assert "not in this package: the data were clipped at 0.0 and 255.0" in bioimageio._readme(clipped, (1, 1, 64, 64))
    assert "clipped" not in bioimageio._readme(make_model(), (1, 1, 64, 64))


def test_the_readme_says_that_hot_pixels_are_replaced_outside_the_package():
    readme = bioimageio._readme(make_model(residual=True, noise_variance=1e-3), (1, 1, 64, 64))
    assert "not in this package: napari-autoencoders replaces hot and dead pixels" in readme
    assert "hot pixels" not in bioimageio._readme(make_model(), (1, 1, 64, 64))


def test_the_readme_says_that_the_package_denoises_the_phases_of_correlated_noise(packages):
    readme = read_member(packages["denoise-phases"][1], "README.md").decode()
    assert "denoises the interleaved sets of pixels 1 rows and 3 columns apart" in readme
    assert "noise_strides" not in bioimageio._readme(make_model(), (1, 1, 64, 64))


def test_a_package_of_phases_denoises_them_as_our_prediction_does(packages):
    """Sizes and halo are the strides times the phases'; the network is applied to each phase."""
    model, path = packages["denoise-phases"]
    descr = _description(path)
    rows, columns = descr.inputs[0].axes[2:]
    assert (rows.size.step, columns.size.step) == (4, 12)  # 2**depth, times the strides
    assert [axis.halo for axis in descr.outputs[0].axes[2:]] == [bioimageio.UNET_HALO, 3 * bioimageio.UNET_HALO]
    test_input, test_output = read_array(path, "test_input.npy"), read_array(path, "test_output.npy")
    assert test_input.shape[-1] % 12 == 0
    whole = dataclasses.replace(model.config.model, noise_strides=(1, 1))
    unsplit = dataclasses.replace(model, config=dataclasses.replace(model.config, model=whole))
    ours = predict(model, test_input[0, 0], device="cpu", ensemble=False)
    assert np.abs(test_output[0, 0] - ours).max() < 1e-3 * np.ptp(ours)
    assert np.abs(test_output[0, 0] - predict(unsplit, test_input[0, 0], device="cpu", ensemble=False)).max() > 0.1


def test_our_package_from_a_newer_version_with_new_config_fields_says_to_update(packages, tmp_path):
    def newer(rdf):
        ours = rdf["config"]["napari_autoencoders"]
        ours["config"]["training"]["foo"] = 1
        ours["package_version"] = "99.0"

    rdf = edit_package(packages["denoise"][1], tmp_path / "unpacked", newer)
    with pytest.raises(BioimageioError, match=r"training.foo are unknown .* newer version \(99.0\)"):
        load_model(rdf)


def test_our_package_with_a_malformed_history_is_refused(packages, tmp_path):
    def malformed(rdf):
        rdf["config"]["napari_autoencoders"]["history"] = [{"epoch": 1}]

    rdf = edit_package(packages["denoise"][1], tmp_path / "unpacked", malformed)
    with pytest.raises(BioimageioError, match="history entry 0 must be an object with numbers"):
        load_model(rdf)


@pytest.mark.parametrize("kind", ["vae", "aae"])
def test_a_latent_models_package_keeps_its_latent_density(packages, kind):
    model, path = packages[kind]
    loaded = load_model(path)
    assert loaded.density is not None
    for name in ("weights", "means", "covariances"):
        np.testing.assert_array_equal(getattr(loaded.density, name), getattr(model.density, name))
    np.testing.assert_array_equal(
        sample(loaded, 3, seed=1, source="density"), sample(model, 3, seed=1, source="density")
    )


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a: [1, 2\nb: 3\n", "expected ',' or ']', but got ':' at line 2"),
        ("key: value: other\n", "mapping values are not allowed here at line 1"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
    ids=["unclosed list", "two colons", "deep nesting"],
)
@pytest.mark.parametrize("packed", [False, True], ids=["unpacked", "zip"])
def test_a_package_whose_rdf_yaml_is_not_yaml_is_refused(packages, tmp_path, text, problem, packed):
    folder = tmp_path / "unpacked"
    rdf = edit_package(packages["denoise"][1], folder, lambda rdf: None)
    rdf.write_text(text)
    path = repack(folder, tmp_path / "broken.zip") if packed else rdf
    with pytest.raises(BioimageioError, match="its rdf.yaml is not readable YAML") as error:
        load_model(path)
    assert problem in str(error.value) and "\n" not in str(error.value)


class _Code:
    """A pickled object that would run code when loaded without weights_only."""

    def __reduce__(self):
        return (print, ("ran",))


def _pickled(value):
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(0).bytes(4096),
        b"",
        _pickled({"weight": _Code()}),
        _pickled([torch.zeros(3)]),
    ],
    ids=["random bytes", "empty", "code", "a list"],
)
def test_our_package_whose_weights_are_not_a_state_dict_is_refused(packages, tmp_path, content):
    rdf = edit_package(packages["denoise"][1], tmp_path / "unpacked", lambda rdf: None)
    replace_weights(rdf, content)
    with pytest.raises(BioimageioError, match="weights.pt is not a torch state dict") as error:
        load_model(rdf)
    assert "weights_only" not in str(error.value) and "\n" not in str(error.value)


def _refuse_full_size_builds(monkeypatch):
    """Fail the test where the package loader or model files build a network off the meta device."""
    from napari_autoencoders.core.io import model_files
    from napari_autoencoders.core.nn import models

    build = models.build_model

    def meta_only(config):
        if torch.get_default_device().type != "meta":
            raise AssertionError(f"a network of width {config.width} was built at full size")
        return build(config)

    monkeypatch.setattr(models, "build_model", meta_only)
    monkeypatch.setattr(model_files, "build_model", meta_only)


@pytest.mark.parametrize("packing", ["unpacked", "zip"])
@pytest.mark.parametrize("width, depth", [(64, 4), (1024, 6)])
def test_a_package_whose_config_asks_for_a_larger_network_is_refused_unbuilt(
    packages, tmp_path, monkeypatch, width, depth, packing
):
    """Its weights are compared with a network on the meta device: 1024 wide and 6 deep, it would
    take hundreds of GB, and reading up to its size must not allocate that either."""

    def larger(rdf):
        rdf["config"]["napari_autoencoders"]["config"]["model"].update(width=width, depth=depth)

    rdf = edit_package(packages["denoise"][1], tmp_path / "unpacked", larger)
    path = repack(rdf.parent, tmp_path / "larger.zip") if packing == "zip" else rdf
    _refuse_full_size_builds(monkeypatch)
    with pytest.raises(BioimageioError, match="weights do not fit its config"):
        load_model(path)


@pytest.mark.parametrize("packing", ["unpacked", "zip", "deflated records"])
def test_weights_larger_than_their_network_are_refused_unread(packages, tmp_path, monkeypatch, packing):
    """A zip bomb: weights.pt (or torch's records in it) inflating far beyond the config's tensors."""
    model, package = packages["denoise"]
    rdf = edit_package(package, tmp_path / "unpacked", lambda rdf: None)
    big = {name: torch.zeros(4 * t.numel()) for name, t in model.network.state_dict().items()}
    content = _pickled(big)
    if packing == "deflated records":  # a small weights.pt whose records inflate
        deflated = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(
            deflated, "w", zipfile.ZIP_DEFLATED
        ) as archive:
            for info in source.infolist():
                archive.writestr(info.filename, source.read(info))
        content = deflated.getvalue()
    replace_weights(rdf, content)
    path = repack(rdf.parent, tmp_path / "bomb.zip", zipfile.ZIP_DEFLATED) if packing == "zip" else rdf

    def unread(*args, **kwargs):
        raise AssertionError("the weights were unpickled")

    monkeypatch.setattr(torch, "load", unread)
    with pytest.raises(BioimageioError, match="weights.pt holds [0-9]+ bytes, more than the [0-9]+ that"):
        load_model(path)
