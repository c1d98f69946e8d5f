"""The nuclei benchmark: its image read from a wheel, its two references, its methods and a quick run."""

import io
import sys
import zipfile

import numpy as np
import pytest
import tifffile
from skimage import data

import nuclei


def _micrograph() -> np.ndarray:
    """A stand-in for the nuclei image: scikit-image's cell as uint16 counts."""
    return (data.cell()[:129, :131].astype(np.uint16) * 4) + 100  # odd sides


def test_the_image_is_read_from_a_cached_wheel_without_a_download(tmp_path, monkeypatch):
    image = _micrograph()
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image)
    with zipfile.ZipFile(tmp_path / "stardist-0.9.2-cp311-cp311-any.whl", "w") as wheel:
        wheel.writestr(nuclei.MEMBER, buffer.getvalue())
    monkeypatch.setattr(nuclei.subprocess, "run", lambda *a, **k: pytest.fail("downloaded again"))
    np.testing.assert_array_equal(nuclei.nuclei_image(tmp_path), image)


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


def test_every_budget_and_the_peer_like_baseline_train_at_30_photons_only():
    cases = nuclei.nuclei_cases(_micrograph(), peaks=(10, 30))
    at_10 = nuclei.methods_for(cases[0], (30.0, 120.0))
    at_30 = nuclei.methods_for(cases[1], (30.0, 120.0))
    assert list(at_10) == [
        "ours, prior (zero-shot)", "ours, prior told the added noise", "ours, self-supervised (30 s)"
    ]
    assert list(at_30)[2:] == [
        "ours, self-supervised (30 s)", "ours, self-supervised (120 s)", "Noise2Void, from scratch (120 s)"
    ]


@pytest.mark.slow
def test_quick_run_scores_the_baselines_and_ours_on_both_references(monkeypatch):
    monkeypatch.setattr(nuclei, "nuclei_image", _micrograph)
    (table,) = nuclei.run(quick=True)
    groups = {row[0] for row in table["rows"]}
    assert groups == {"nuclei as recorded, peak 30", "nuclei binned 2x2, peak 30"}
    methods = [row[1] for row in table["rows"] if row[0] == "nuclei binned 2x2, peak 30"]
    assert methods == [
        "noisy input", "NL-means", "BM3D", "BM3D + GAT", "ours, prior (zero-shot)",
        "ours, prior told the added noise", "ours, self-supervised (1 s)", "Noise2Void, from scratch (1 s)",
    ]
    noisy, told = (float(row[2]) for row in table["rows"] if row[1] in ("noisy input", "ours, prior told the added noise")
                   and row[0].startswith("nuclei binned"))
    assert told > noisy + 3  # the prior denoises the stand-in
    sys.modules.pop("nuclei", None)
