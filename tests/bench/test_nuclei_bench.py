"""The nuclei benchmark: its image read from a wheel, its two references, its methods and a quick run."""

import io
import sys
import zipfile

import numpy as np
import pytest
import tifffile
from skimage import data

import nuclei


def _micrograph(height: int = 129, width: int = 131) -> np.ndarray:
    """A stand-in for the nuclei image: scikit-image's cell as uint16 counts (odd sides by default)."""
    return (data.cell()[:height, :width].astype(np.uint16) * 4) + 100


def _wheel(path, image: np.ndarray) -> None:
    """A zip at ``path`` holding ``image`` where the stardist wheel holds the micrograph."""
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image)
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(nuclei.MEMBER, buffer.getvalue())


def test_the_image_is_read_from_a_cached_wheel_without_a_download(tmp_path, monkeypatch):
    image = _micrograph()
    _wheel(tmp_path / f"stardist-{nuclei.VERSION}-cp311-cp311-any.whl", image)
    _wheel(tmp_path / "stardist-0.10.0-cp311-cp311-any.whl", image[:8, :8])  # another version: not read
    monkeypatch.setattr(nuclei.subprocess, "run", lambda *a, **k: pytest.fail("downloaded again"))
    np.testing.assert_array_equal(nuclei.nuclei_image(tmp_path), image)


def test_pip_downloads_the_wheel_alone_once(tmp_path, monkeypatch):
    image, commands = _micrograph(), []

    def pip(command, check):
        commands.append(command)
        _wheel(tmp_path / "cache" / f"stardist-{nuclei.VERSION}-cp311-cp311-linux.whl", image)

    monkeypatch.setattr(nuclei.subprocess, "run", pip)
    for _ in range(2):
        np.testing.assert_array_equal(nuclei.nuclei_image(tmp_path / "cache"), image)
    (command,) = commands  # the second read finds it cached
    assert command[-1] == nuclei.WHEEL and "--no-deps" in command and "--only-binary=:all:" in command


def test_a_download_without_the_wheel_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(nuclei.subprocess, "run", lambda command, check: None)
    with pytest.raises(FileNotFoundError, match="no wheel of stardist==0.9.2"):
        nuclei.nuclei_image(tmp_path)


def test_the_references_are_the_image_as_recorded_and_binned():
    image = _micrograph()
    cases = nuclei.nuclei_cases(image, peaks=(10, 30))
    assert [case["group"] for case in cases] == [
        "nuclei as recorded, peak 10", "nuclei as recorded, peak 30",
        "nuclei binned 2x2, peak 10", "nuclei binned 2x2, peak 30",
    ]
    recorded, binned = cases[0]["clean"], cases[2]["clean"]
    assert recorded.shape == (129, 131) and binned.shape == (64, 65)  # an odd last row or column left out
    for clean in (recorded, binned):
        assert clean.dtype == np.float32 and clean.min() == 0.0 and clean.max() == 1.0
    means = image[:128, :130].astype(np.float32).reshape(64, 2, 65, 2).mean((1, 3))
    np.testing.assert_allclose(binned, nuclei._unit(means))  # each pixel the mean of 2x2
    assert cases[1]["noise"].gain == pytest.approx(1 / 30)


def test_every_budget_and_noise2void_train_at_30_photons_only(monkeypatch):
    trainings = []
    monkeypatch.setattr(nuclei, "train_denoise", lambda noisy, inputs, seconds, **options: trainings.append(
        (seconds, options.get("pretrained", True))
    ))
    cases = nuclei.nuclei_cases(_micrograph(), peaks=(10, 30))
    at_10 = nuclei.methods_for(cases[0], (30.0, 120.0))
    at_30 = nuclei.methods_for(cases[1], (30.0, 120.0))
    assert list(at_10) == [
        "ours, prior (zero-shot)", "ours, prior told the added noise", "ours, self-supervised (30 s)"
    ]
    assert list(at_30)[2:] == [
        "ours, self-supervised (30 s)", "ours, self-supervised (120 s)", "Noise2Void, from scratch (120 s)"
    ]
    for method in list(at_10)[2:] + list(at_30)[2:]:
        (at_10 | at_30)[method](None)
    assert trainings == [(30.0, True), (30.0, True), (120.0, True), (120.0, False)]


@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_denoises_and_upscales_both_references(monkeypatch):
    monkeypatch.setattr(nuclei, "nuclei_image", lambda: _micrograph(300, 300))  # cropped to 256
    table, superres = nuclei.run(quick=True)
    groups = {row[0] for row in table["rows"]}
    assert groups == {"nuclei as recorded, peak 30", "nuclei binned 2x2, peak 30"}
    methods = [row[1] for row in table["rows"] if row[0] == "nuclei binned 2x2, peak 30"]
    assert methods == [
        "noisy input", "NL-means", "BM3D", "BM3D + GAT", "ours, prior (zero-shot)",
        "ours, prior told the added noise", "ours, self-supervised (1 s)", "Noise2Void, from scratch (1 s)",
    ]
    binned = [row for row in table["rows"] if row[0].startswith("nuclei binned")]
    noisy, told = (float(row[2]) for row in binned if row[1] in ("noisy input", "ours, prior told the added noise"))
    assert told > noisy + 3  # the prior denoises the stand-in
    trained = [row for row in table["rows"] if "self-supervised" in row[1] or "Noise2Void" in row[1]]
    assert len(trained) == 4 and all(int(row[5]) > 0 for row in trained)  # steps done
    cases = [(row[0], row[1]) for row in superres["rows"] if row[2] == "bicubic"]
    assert cases == [("as recorded", "×2"), ("binned 2x2", "×2"), ("as recorded", "×4"), ("binned 2x2", "×4")]
    assert all(row[4] == "+0.00" for row in superres["rows"] if row[2] == "bicubic")
    assert {row[2] for row in superres["rows"]} == {
        "bilinear", "bicubic", "ours, from-highres", "ours, from-highres, one orientation", "ours, zero-shot"
    }  # and no mean over the two references
    sys.modules.pop("nuclei", None)
