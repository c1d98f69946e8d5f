"""Smoke test of the benchmark harness: every table is produced at tiny sizes."""

import runpy
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_quick_bench_writes_every_table(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    run = runpy.run_path(str(BENCH / "run.py"))
    output = tmp_path / "BENCHMARKS.md"
    assert run["main"](["--quick", "--output", str(output)]) == 0
    text = output.read_text()
    assert "Machine:" in text and "Command:" in text and "Date:" in text
    for title in ("Denoising quality", "Self-supervised PSNR against training time"):
        assert title in text
    for method in ("noisy input", "NL-means", "BM3D", "self-supervised", "synthetic", "paired"):
        assert method in text
    for title in ("Latent codes of held-out MNIST digits", "Encoding speed"):
        assert title in text
    sys.modules.pop("denoise", None)
    sys.modules.pop("latent", None)
