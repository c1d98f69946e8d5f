"""Tests for units spelled as each file format names them."""

import pytest

from napari_autoencoders.core.io.units import spell_unit


@pytest.mark.parametrize(
    ("unit", "kind", "expected"),
    [
        ("um", "space", ("micrometer", "µm", "micron")),
        ("μm", "space", ("micrometer", "µm", "micron")),  # the Greek mu, not the micro sign
        ("micron", "space", ("micrometer", "µm", "micron")),
        ("nanometer", "space", ("nanometer", "nm", "nm")),
        ("m", "space", ("meter", "m", "m")),
        ("sec", "time", ("second", "s", "sec")),
        ("us", "time", ("microsecond", "µs", "us")),
        ("hr", "time", ("hour", "h", "h")),
        ("min", "time", ("minute", "min", "min")),
        ("furlong", "space", ("furlong",) * 3),  # not listed: as given
    ],
)
def test_a_unit_is_known_by_any_name_and_spelled_as_each_format_names_it(unit, kind, expected):
    assert tuple(spell_unit(unit, kind, style) for style in ("ngff", "ome", "imagej")) == expected


def test_m_is_a_metre_in_space_and_unknown_in_time():
    assert spell_unit("m", "space", "ngff") == "meter" and spell_unit("m", "time", "ngff") == "m"
