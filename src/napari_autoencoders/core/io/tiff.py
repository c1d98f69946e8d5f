"""What a TIFF file says of its pixels: axes, pixel sizes, time step, their units, one image.

ImageJ and OME-TIFF files store their axes (``TZCYX`` orders), the
physical size of a pixel and the time between frames; the results of
``apply`` keep them (the sizes in Y and X divided by a super-resolution
factor), written as ImageJ metadata, which Fiji and tifffile read back. A
plain TIFF stores neither: its axes are guessed, as those of a NumPy file.
Results in another order of the axes are written as OME-TIFF.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from .units import spell_unit

#: tifffile's axis letters (ImageJ, OME) as ours; ``S`` is tifffile's samples (RGB), our ``C``.
_AXES = {"T": "T", "Z": "Z", "C": "C", "S": "C", "Y": "Y", "X": "X", "I": "S", "Q": "S"}


@dataclass(frozen=True)
class TiffLayout:
    """The axes, pixel sizes and unit a TIFF stores; None where it stores none.

    Attributes
    ----------
    axes : str or None
        Our axis letters (``"ZCYX"``, ``"SYX"``...), from ImageJ or OME metadata.
    scale : tuple of float or None
        The physical size of a pixel along each axis (1 on C and S), and the
        time step along T (1 where none is stored).
    unit : str or None
        The unit of the sizes along Y and X, e.g. ``"micron"``.
    time_unit : str or None
        The unit of the time step, e.g. ``"sec"``.
    """

    axes: str | None = None
    scale: tuple[float, ...] | None = None
    unit: str | None = None
    time_unit: str | None = None


def read_layout(path: str | os.PathLike) -> TiffLayout:
    """The :class:`TiffLayout` of the TIFF at ``path`` (its first and only image).

    Raises
    ------
    ValueError
        If the file holds several images of different series (not the
        levels of one pyramid), of which only the first would be read.
    """
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        check_one_series(tiff, path)
        return tiff_layout(tiff)


def tiff_layout(tiff) -> TiffLayout:
    """The :class:`TiffLayout` of the first image of an open ``tifffile.TiffFile``."""
    if not (tiff.is_imagej or tiff.is_ome):
        return TiffLayout()
    series = tiff.series[0]
    axes = "".join(_AXES.get(letter, "?") for letter in series.axes)
    if "?" in axes or len(set(axes)) != len(axes):
        return TiffLayout()
    if tiff.is_imagej:
        (sizes, unit), (step, time_unit) = _imagej_sizes(tiff), _imagej_time(tiff)
    else:
        pixels = _ome_pixels(tiff)
        (sizes, unit), (step, time_unit) = _ome_sizes(pixels), _ome_time(pixels)
    if step is not None and "T" in axes:
        sizes["T"] = step
    else:
        time_unit = None
    if not sizes:
        return TiffLayout(axes)
    scale = tuple(float(sizes.get(letter, 1.0)) for letter in axes)
    return TiffLayout(axes, scale, unit, time_unit)


def check_one_series(tiff, path: str | os.PathLike) -> None:
    """Raise ``ValueError`` if ``tiff`` (an open ``tifffile.TiffFile``) holds several images.

    Reduced-resolution pages (a thumbnail) are not images of their own; a
    file whose header lists no image at all (a corrupt one) is refused too.
    """
    if not tiff.series:
        raise ValueError(f"{str(path)!r} holds no image; its header may be damaged.")
    series = [tiff.series[0], *(s for s in tiff.series[1:] if not _reduced(s))]
    if len(series) > 1:
        shapes = ", ".join(str(tuple(each.shape)) for each in series[:4])
        raise ValueError(
            f"{str(path)!r} holds {len(series)} separate images ({shapes}"
            f"{', ...' if len(series) > 4 else ''}), of which only the first would be read; "
            "save them as one stack, or as files of their own."
        )


def _reduced(series) -> bool:
    """Whether a series holds a reduced-resolution copy (a thumbnail, a preview)."""
    return bool(getattr(series.keyframe, "is_reduced", False))


def _imagej_sizes(tiff) -> tuple[dict[str, float], str | None]:
    """Pixel sizes by axis letter from ImageJ's resolution tags and description."""
    metadata = tiff.imagej_metadata or {}
    page = tiff.pages.first
    sizes = {}
    for letter, name in (("X", "XResolution"), ("Y", "YResolution")):
        tag = page.tags.get(name)
        if tag is None:
            continue
        numerator, denominator = tag.value
        if numerator > 0 and denominator > 0:
            sizes[letter] = denominator / numerator  # pixels per unit, inverted
    if not sizes or (set(sizes.values()) == {1.0} and "unit" not in metadata):  # uncalibrated
        return {}, None
    spacing = metadata.get("spacing")
    if _is_size(spacing):
        sizes["Z"] = float(spacing)
    return sizes, metadata.get("unit")


def _ome_pixels(tiff) -> dict:
    """The ``Pixels`` element of the OME-XML's first image, as a dict ({} where unreadable)."""
    import tifffile

    try:
        image = tifffile.xml2dict(tiff.ome_metadata)["OME"]["Image"]
    except (KeyError, TypeError, ValueError):
        return {}
    return (image[0] if isinstance(image, list) else image).get("Pixels", {})


def _ome_sizes(pixels: dict) -> tuple[dict[str, float], str | None]:
    """Pixel sizes by axis letter from an OME-XML ``Pixels`` element (:func:`_ome_pixels`)."""
    sizes = {
        letter: float(pixels[f"PhysicalSize{letter}"])
        for letter in "XYZ"
        if _is_size(pixels.get(f"PhysicalSize{letter}"))
    }
    if "X" not in sizes or "Y" not in sizes:
        return {}, None
    return sizes, pixels.get("PhysicalSizeXUnit", "µm") if sizes else None


def _imagej_time(tiff) -> tuple[float | None, str | None]:
    """The time step between frames and its unit, from ImageJ's description (None: none)."""
    metadata = tiff.imagej_metadata or {}
    step = metadata.get("finterval")
    return (float(step), metadata.get("tunit")) if _is_size(step) else (None, None)


def _ome_time(pixels: dict) -> tuple[float | None, str | None]:
    """The time step between frames and its unit, from an OME-XML ``Pixels`` element."""
    step = pixels.get("TimeIncrement")
    return (float(step), pixels.get("TimeIncrementUnit", "s")) if _is_size(step) else (None, None)


def _is_size(value: object) -> bool:
    """Whether ``value`` is a pixel size: a finite number above 0."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)  # "true" in XML
    return number and math.isfinite(value) and value > 0


def writing_options(
    axes: str, scale: Sequence[float] | None, unit: str | None, time_unit: str | None = None
) -> dict:
    """``tifffile.imwrite`` options that store ``axes``, ``scale`` and the units.

    Axes in ImageJ's order (of ``TZCYX``) are written as an ImageJ hyperstack
    with its unit, Z spacing and frame interval, which Fiji reads; other
    orders of those letters and ``S`` (a stack), ending in YX, as an
    OME-TIFF; any other order (channels last) with neither: resolution tags
    alone would be read in inches. ``scale`` holds the pixel sizes and, on
    T, the time step, whose unit is ``time_unit``.
    """
    sizes = dict(zip(axes, scale)) if scale is not None else {}
    if _imagej_order(axes):
        metadata = {"axes": axes, **_imagej_time_metadata(sizes, time_unit)}
        if unit and sizes:
            metadata["unit"] = _ascii(spell_unit(unit, "space", "imagej"))
        if "Z" in sizes:
            metadata["spacing"] = sizes["Z"]
        options = {"imagej": True, "metadata": metadata}
        if sizes:
            options["resolution"] = (1.0 / sizes["X"], 1.0 / sizes["Y"])  # per unit, X first
        return options
    if axes.endswith("YX") and set(axes) <= set("TZCSYX"):
        metadata = {"axes": axes.replace("S", "Q")}  # tifffile's letter of an unknown axis
        # sizes of 1 without a unit (a time step alone) are none: OME would read micrometres
        calibrated = bool(unit) or any(sizes.get(letter, 1.0) != 1.0 for letter in "XYZ")
        for letter in "XYZ" if calibrated else "":
            if letter in sizes:
                metadata[f"PhysicalSize{letter}"] = sizes[letter]
                if unit:
                    metadata[f"PhysicalSize{letter}Unit"] = spell_unit(unit, "space", "ome")
        if _has_time_step(sizes, time_unit):
            metadata["TimeIncrement"] = sizes["T"]
            if time_unit:
                metadata["TimeIncrementUnit"] = spell_unit(time_unit, "time", "ome")
        return {"ome": True, "metadata": metadata}
    return {}


def _imagej_time_metadata(sizes: dict[str, float], time_unit: str | None) -> dict:
    """ImageJ's frame interval and its unit for the time step ``sizes["T"]``, where one is known."""
    if not _has_time_step(sizes, time_unit):
        return {}
    metadata = {"finterval": sizes["T"]}
    if time_unit:
        metadata["tunit"] = _ascii(spell_unit(time_unit, "time", "imagej"))
    return metadata


def _has_time_step(sizes: dict[str, float], time_unit: str | None) -> bool:
    """Whether ``sizes`` has a time step to write: other than 1 (the default), or with a unit."""
    return "T" in sizes and (sizes["T"] != 1.0 or bool(time_unit))


def _ascii(text: str) -> str:
    """``text`` as ASCII, other characters escaped (ImageJ's description is ASCII)."""
    return text.encode("ascii", "backslashreplace").decode()


def _imagej_order(axes: str) -> bool:
    """Whether ``axes`` are some of ImageJ's ``TZCYX``, in its order, ending in YX."""
    order = "TZCYX"
    return (
        axes.endswith("YX")
        and all(letter in order for letter in axes)
        and list(axes) == sorted(axes, key=order.index)
    )
