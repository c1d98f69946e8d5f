"""Tests for what the widgets' worker threads share."""

import warnings

from napari_autoencoders.widgets import threads


def test_warnings_for_users_are_shown_and_those_for_developers_left_out(monkeypatch):
    shown = []
    monkeypatch.setattr(threads, "show_warning", shown.append)
    for message, category in [
        ("the prior is kept", UserWarning),
        ("old API", DeprecationWarning),
        ("ParametricUMAP will be unavailable", ImportWarning),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = lambda *args: threads.relay_warning(args)
            warnings.warn(message, category, stacklevel=1)
    assert shown == ["the prior is kept"]
