"""Units of length and of time, spelled as each file format names them.

OME-NGFF names them as UDUNITS-2 does (``"micrometer"``, ``"second"``),
OME-XML by their symbols (``"µm"``, ``"s"``) and ImageJ in ASCII
(``"micron"``, ``"sec"``). A unit is known by any of its names and written
in the format's; a unit not listed is written as it is given.
"""

from __future__ import annotations

#: The formats, in the order of the names in :data:`_NAMES`.
STYLES = ("ngff", "ome", "imagej")

#: Each unit's names, by kind of axis: OME-NGFF's, OME-XML's, ImageJ's, then other spellings.
_NAMES = {
    "space": [
        ("micrometer", "µm", "micron", "um", "μm"),  # the micro sign, then the Greek mu
        ("nanometer", "nm", "nm"),
        ("millimeter", "mm", "mm"),
        ("centimeter", "cm", "cm"),
        ("meter", "m", "m"),
    ],
    "time": [
        ("second", "s", "sec"),
        ("millisecond", "ms", "ms"),
        ("microsecond", "µs", "us", "μs"),
        ("nanosecond", "ns", "ns"),
        ("minute", "min", "min"),
        ("hour", "h", "h", "hr"),
        ("day", "d", "d"),
    ],
}


def spell_unit(unit: str, kind: str, style: str) -> str:
    """Return ``unit`` as the format ``style`` names it.

    Parameters
    ----------
    unit : str
        A unit by any of its names, e.g. ``"um"``, ``"micron"``, ``"sec"``.
    kind : {"space", "time"}
        The kind of axis it measures: ``"m"`` is a metre, ``"min"`` a minute.
    style : {"ngff", "ome", "imagej"}
        The format: OME-NGFF (OME-Zarr), OME-XML (OME-TIFF) or ImageJ.

    Returns
    -------
    str
        The format's name of the unit, or ``unit`` itself when it is not listed.
    """
    column = STYLES.index(style)
    return next((names[column] for names in _NAMES[kind] if unit in names), unit)
