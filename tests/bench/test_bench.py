"""Smoke test of the benchmark harness: every table is produced at tiny sizes."""

import runpy
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.slow
@pytest.mark.bench
def test_quick_bench_writes_every_table(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    run = runpy.run_path(str(BENCH / "run.py"))
    output = tmp_path / "BENCHMARKS.md"
    assert run["main"](["--quick", "--only", "denoise", "superres", "vae", "latent", "--output", str(output)]) == 0
    text = output.read_text()
    assert "Machine:" in text and "Command:" in text and "Date:" in text
    for title in ("Denoising quality", "Self-supervised PSNR against training time"):
        assert title in text
    for method in ("noisy input", "NL-means", "BM3D", "self-supervised", "synthetic", "paired"):
        assert method in text
    quality = table(text, "Denoising quality, 48x48 phantom and photograph (secondary), 0.5 s of training per mode")
    trained = [row for row in quality if row[1].startswith(("ours", "Noise2Void"))]
    assert {row[1] for row in trained} == {
        "ours, self-supervised", "ours, synthetic", "ours, paired", "Noise2Void, from scratch"
    }
    assert all(row[5] for row in trained)  # the steps done
    for title in ("Super-resolution quality, 64x64 phantom", "Super-resolution quality, 64x64 photograph",
                  "Super-resolution apply speed"):
        assert title in text
    assert "VAE on MNIST: held-out negative ELBO" in text
    assert "conv VAE" in text and "fully connected 784-512-latent VAE" in text
    for title in ("Latent codes of held-out MNIST digits", "Encoding speed"):
        assert title in text
    latent = table(text, "Latent codes of held-out MNIST digits")
    assert [row[1] for row in latent if "neighbour term" in row[0]] == ["10", "2"]
    assert [" ± " in row[3] for row in latent if "neighbour term" in row[0]] == [False, True]
    for name in ("denoise", "superres", "vae", "latent", "mnist"):
        sys.modules.pop(name, None)


@pytest.mark.slow
@pytest.mark.bench
def test_quick_defaults_bench_writes_its_tables(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    run = runpy.run_path(str(BENCH / "run.py"))
    output = tmp_path / "BENCHMARKS.md"
    assert run["main"](["--quick", "--only", "defaults", "--output", str(output)]) == 0
    text = output.read_text()
    samples = table(text, "Generated digits with the defaults (120 s)")
    assert [row[0] for row in samples][:3] == [
        "real digits (training set)", "real digits blurred (σ = 1 pixel)", "uniform noise"
    ]
    assert sum("density" in row[0] for row in samples) == sum("prior" in row[0] for row in samples) == 2
    latents = table(text, "Latents with the defaults (120 s)")
    assert {row[0] for row in latents} == {"MNIST digits", "photograph tiles (8 sources)"}
    assert sum("reconstruct" in row[1] for row in latents) == 4
    for name in ("defaults", "mnist"):
        sys.modules.pop(name, None)


def table(text, title):
    """The data rows of the table under ``## title``, as lists of cells."""
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


@pytest.mark.slow
@pytest.mark.bench
def test_quick_speed_and_responsiveness_write_every_row(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    run = runpy.run_path(str(BENCH / "run.py"))
    output = tmp_path / "BENCHMARKS.md"
    assert run["main"](["--quick", "--only", "speed", "responsiveness", "--output", str(output)]) == 0
    text = output.read_text()
    training = table(text, "Training throughput: our loop against a bare PyTorch loop")
    assert [row[0] for row in training] == ["self-supervised", "synthetic", "paired"]
    flops = table(text, "Achieved GFLOP/s of a training step")
    assert [row[0] for row in flops] == ["training step (bare loop)", "matmul 256x256 float32"]
    prediction = table(text, "Prediction throughput: tiled against untiled")
    assert [row[0] for row in prediction] == ["64x64", "128x128", "256x256"]
    assert "memory-mapped" in prediction[-1][1]
    memory = table(text, "Peak memory of napari-autoencoders apply")
    assert [row[1] for row in memory] == [".npy", ".tif"]
    stalls = table(text, "Responsiveness: napari's event loop while training")
    assert [row[0].split()[0] for row in stalls] == ["opening", "idle", "first", "second"]
    scatter = table(text, "Responsiveness: a latent scatter of many points")
    assert [row[0].split()[0] for row in scatter] == ["add", "recolour", "select"]
    for row in training + flops + prediction + memory + stalls + scatter:
        assert all(cell and cell != "nan" for cell in row)
    for name in ("speed", "responsiveness", "timing"):
        sys.modules.pop(name, None)


def test_the_real_image_sections_lead_the_report():
    modules = runpy.run_path(str(BENCH / "run.py"))["MODULES"]
    assert modules.index("real_denoise") < modules.index("denoise")
    assert modules.index("superres_real") < modules.index("superres")


def test_a_rerun_replaces_only_its_own_section(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    run = runpy.run_path(str(BENCH / "run.py"))
    table = {"title": "T", "header": ["a"], "rows": [["1"]]}
    first = run["render"]({
        "vae": run["render_section"]("vae", [table], "python bench/run.py --only vae"),
        "denoise": run["render_section"]("denoise", [table], "python bench/run.py --only denoise"),
    })
    kept = run["sections"](first)
    assert list(kept) == ["denoise", "vae"]  # in MODULES order
    kept["vae"] = run["render_section"]("vae", [{**table, "rows": [["2"]]}], "again")
    second = run["render"](kept)
    assert second.count("| 1 |") == 1 and second.count("| 2 |") == 1
    assert "--only denoise" in second and "Command: `again`" in second


def test_latent_figure_draws_each_learned_2d_latent(tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.syspath_prepend(str(BENCH))
    latent = runpy.run_path(str(BENCH / "latent.py"))
    rng = np.random.default_rng(0)
    codes = {
        "PCA-2 of pixels": rng.random((20, 2)),
        "autoencoder, 10-D latent (5 steps)": rng.random((20, 10)),
        "autoencoder, 2-D latent (5 steps)": rng.random((20, 2)),
        "autoencoder + neighbour term, 2-D latent (5 steps)": rng.random((20, 2)),
    }
    panels = latent["two_dimensional"](codes)
    assert list(panels) == ["autoencoder", "autoencoder + neighbour term"]
    path = latent["save_scatter"](panels, np.arange(20) % 10, tmp_path / "latent.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sys.modules.pop("mnist", None)


@pytest.mark.slow
@pytest.mark.bench
def test_quick_volumes_bench_writes_the_3d_table(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    run = runpy.run_path(str(BENCH / "run.py"))
    output = tmp_path / "BENCHMARKS.md"
    assert run["main"](["--quick", "--only", "volumes", "--output", str(output)]) == 0
    text = output.read_text()
    scores = table(text, "3D against 2D-per-plane denoising, 8x32x32 (ZYX), 1 s of training each")
    assert [row[1] for row in scores[:4]] == [
        "noisy input", "2D U-Net from scratch, plane by plane",
        "2D prior fine-tuned, plane by plane (default)", "3D U-Net",
    ]  # fmt: skip
    assert {row[0] for row in scores} == {"3D blobs", "nuclei and filaments"}
    gains = table(text, "3D gain over 2D-per-plane at equal training time")
    assert [row[0] for row in gains] == ["3D blobs", "nuclei and filaments"]
    for row in scores + gains:
        assert all(cell and cell != "nan" for cell in row)
    sys.modules.pop("volumes", None)


@pytest.mark.slow
@pytest.mark.bench
def test_quick_cluster_bench_writes_its_tables(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    run = runpy.run_path(str(BENCH / "run.py"))
    output = tmp_path / "BENCHMARKS.md"
    assert run["main"](["--quick", "--only", "cluster", "--output", str(output)]) == 0
    text = output.read_text()
    prediction = table(text, "Prediction of a 256² zarr image here and on local dask workers")
    assert [row[0] for row in prediction][:3] == [
        "here, tiled (1 process, all cores)",
        "1 local worker(s), one thread each",
        "2 local worker(s), one thread each",
    ]
    assert all(float(row[6]) < 1e-4 for row in prediction[1:3])  # equal to the local result
    assert len(prediction[2][5].split(" / ")) == 2  # a peak per worker
    training = table(text, "Training peak memory on a stack four times larger than the cache")
    assert [row[2] for row in training] == ["-", "1", "-"]
    for name in ("cluster", "speed"):
        sys.modules.pop(name, None)


@pytest.mark.slow
@pytest.mark.bench
def test_quick_real_superres_bench_writes_every_case_and_group_mean(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    run = runpy.run_path(str(BENCH / "run.py"))
    output = tmp_path / "BENCHMARKS.md"
    assert run["main"](["--quick", "--only", "superres_real", "--output", str(output)]) == 0
    rows = table(output.read_text(), "Super-resolution of real images, held-apart test images")
    methods = ["bilinear", "bicubic", "ours, from-highres", "ours, from-highres, one orientation"]
    methods += ["ours, zero-shot"]
    cases = [row for row in rows if row[1] != "**mean**"]
    assert len(cases) == 2 * 8 * len(methods)  # 2 factors, 4 test images in each of 2 groups
    means = {(row[0], row[2], row[3]) for row in rows if row[1] == "**mean**"}
    assert means == {(g, f, m) for g in ("photographs", "science") for f in ("×2", "×4") for m in methods}
    assert all(row[5] == "+0.00" for row in rows if row[3] == "bicubic")
    assert all(int(row[7]) > 0 for row in rows if row[3].startswith("ours, from-highres"))  # steps
    # the quick run's 48-pixel crops are too small for zero-shot: refused, not worse than bicubic
    assert {row[4] for row in rows if row[3] == "ours, zero-shot"} == {"refused: too small"}
    sys.modules.pop("superres_real", None)
