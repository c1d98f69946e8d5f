"""Tests for the benchmark timing helpers."""

from timing import median_time, median_times, ratio


def test_median_times_interleave_the_functions_after_a_warmup():
    calls = []
    seconds = median_times(lambda: calls.append("a"), lambda: calls.append("b"), repeats=3)
    assert calls == ["a", "b"] * 4
    assert len(seconds) == 2 and all(s >= 0 for s in seconds)
    assert median_time(lambda: None, repeats=2, warmup=0) >= 0


def test_ratio_has_two_decimals():
    assert ratio(9.0, 10.0) == "0.90"
