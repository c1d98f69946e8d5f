"""Tests for the precision the network runs in."""

import contextlib

import pytest
import torch

from napari_autoencoders.core.nn.device import autocast


def test_cpu_runs_in_float32_unchanged():
    conv = torch.nn.Conv2d(1, 2, 3)
    x = torch.randn(1, 1, 8, 8)
    with autocast(torch.device("cpu")):
        y = conv(x)
    assert isinstance(autocast(torch.device("cpu")), contextlib.nullcontext)
    assert y.dtype == torch.float32
    assert torch.equal(y, conv(x))


@pytest.mark.filterwarnings("ignore:CUDA is not available")
def test_cuda_uses_bfloat16_autocast_where_supported(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    context = autocast(torch.device("cuda"))
    assert isinstance(context, torch.autocast)
    assert context.fast_dtype == torch.bfloat16 and context.device == "cuda"
