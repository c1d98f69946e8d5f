import sys

import numpy as np
import pytest

import canvas


@pytest.mark.parametrize("name, value", [("median", 0.5), ("least value", 0.0), ("greatest value", 1.0)])
def test_the_image_is_padded_with_its_own_value(name, value):
    image = np.linspace(0.0, 1.0, 9, dtype=np.float32).reshape(3, 3)
    out = canvas.padded(image, name, width=2)
    assert out.shape == (7, 7) and (out[:2] == value).all() and (out[:, -2:] == value).all()
    np.testing.assert_array_equal(out[2:-2, 2:-2], image)
    assert canvas.padded(image, "no canvas") is image


@pytest.mark.slow
@pytest.mark.bench
def test_quick_run_scores_each_canvas_on_the_image_alone():
    averages, collection, every = (table["rows"] for table in canvas.run(quick=True))
    assert [row[1] for row in averages[:5]] == [
        "no canvas", "no canvas", "median", "least value", "greatest value",
    ]
    assert len(every) == 2 * (len(canvas.CANVASES) + 2)  # two images; training on two canvases
    assert [row[0] for row in collection] == list(canvas.CANVASES)
    assert all(np.isfinite(float(row[4])) for row in every)
    sys.modules.pop("canvas", None)
