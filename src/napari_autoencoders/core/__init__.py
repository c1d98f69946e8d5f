"""Pure numerical core: arrays and configs in, arrays out.

Nothing in this package imports napari, Qt or magicgui; the command line and
the widgets both call it.
"""
