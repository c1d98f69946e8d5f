"""The command line and the Train widget give the same config for the same choices."""

import numpy as np
import pytest

from napari_autoencoders.cli import build_parser
from napari_autoencoders.cli.train import FLAGS, config_from_args

FRAMES, IMAGE, VOLUME = (40, 28, 28), (96, 96), (12, 64, 64)

CASES = [
    ("denoise", "self-supervised", IMAGE, {}),
    ("denoise", "self-supervised", IMAGE, {"pretrained": False, "mask_fraction": 0.05, "patience": 7}),
    ("denoise", "synthetic", IMAGE, {"pretrained": False, "depth": 3, "width": 16}),
    ("denoise", "synthetic", IMAGE, {"noise": "poisson:30"}),
    ("denoise", "paired", IMAGE, {"time_budget": 30}),
    ("denoise", "self-supervised", VOLUME, {"three_d": True}),
    ("denoise", "synthetic", VOLUME, {"three_d": True, "patch_z": 8, "batch_size": 2}),
    ("reconstruct", None, FRAMES, {}),
    ("reconstruct", None, FRAMES, {"latent_dim": 4, "neighbour_weight": 1.0}),
    ("superres", "from-highres", IMAGE, {"factor": 3, "downscale": "gaussian:1.0"}),
    ("superres", "paired", IMAGE, {}),
    ("superres", "from-highres", IMAGE, {"pretrained": False, "width": 16}),
    ("superres", "zero-shot", (256, 256), {"factor": 4, "time_budget": 20}),
    ("vae", None, FRAMES, {}),
    ("vae", None, FRAMES, {"dense": True, "beta": 0.5, "kl_warmup": 100}),
    ("aae", None, FRAMES, {}),
    ("aae", None, FRAMES, {"latent_dim": 2, "prior": "mixture", "adversarial_rate": 0.25}),
]


def widget_config(widget, task, mode, choices):
    widget.task.setCurrentText(task)
    if mode is not None:
        widget.mode.setCurrentText(mode)
    setters = {
        "factor": lambda value: widget.factor.setCurrentText(str(value)),
        "noise": widget.noise.setText,
        "downscale": widget.downscale.setText,
        "dense": widget.dense.setChecked,
        "three_d": widget.three_d.setChecked,
        "prior": widget.prior.setCurrentText,
        "pretrained": lambda value: widget.start.setCurrentText(
            "pretrained prior" if value else "random weights"
        ),
    }
    for name, value in choices.items():
        setter = setters.get(name) or getattr(widget, name).setValue
        setter(value)
    return widget.config()


def cli_config(task, mode, shape, choices):
    argv = ["train", "--task", task, "--input", "x.npy", "--model", "m.safetensors"]
    if mode is not None:
        argv += ["--mode", mode]
    if mode == "paired":
        argv += ["--target", "t.npy"]
    for name, value in choices.items():
        flag = FLAGS.get(name, "--" + name.replace("_", "-"))
        if value is False:
            argv.append("--no-" + name.replace("_", "-"))
        else:
            argv += [flag] if value is True else [flag, str(value)]
    return config_from_args(build_parser().parse_args(argv), shape)


@pytest.mark.parametrize(("task", "mode", "shape", "choices"), CASES)
def test_cli_and_widget_agree(viewer, make_train_widget, task, mode, shape, choices):
    viewer.add_image(np.zeros(shape, np.float32), name="data")
    widget = make_train_widget(viewer)

    assert widget_config(widget, task, mode, choices) == cli_config(task, mode, shape, choices)
