"""The core's part of the reliability matrix (issue 15): bad values, hostile files, faults.

Each test is one row or a few rows of the matrix of cases a hostile or
careless user tried; all use tiny data and at most a few training steps.
"""

import re

import numpy as np
import pytest

from napari_autoencoders.core.config import MAX_SEED, MODEL_LIMITS, Config

NON_FINITE = [float("nan"), float("inf"), float("-inf")]


# --- configs: non-finite numbers, seeds, sizes, JSON types ---------------------------


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    "section, name",
    [
        ("training", "learning_rate"),
        ("training", "weight_decay"),
        ("training", "beta"),
        ("training", "neighbour_weight"),
        ("training", "mask_fraction"),
        ("data", "validation_fraction"),
    ],
)
def test_non_finite_float_fields_are_refused(section, name, value):
    config = Config()
    setattr(getattr(config, section), name, value)
    with pytest.raises(ValueError, match=re.escape(f"{section}.{name} must be")):
        config.validate()


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
def test_non_finite_percentiles_are_refused(value):
    config = Config()
    config.data.percentiles = (1.0, value)
    with pytest.raises(ValueError, match="data.percentiles must"):
        config.validate()


@pytest.mark.parametrize("budget", [float("nan"), float("inf")])
def test_time_budget_must_be_finite(budget):
    config = Config()
    config.training.time_budget = budget
    with pytest.raises(ValueError, match="time_budget must be a positive, finite number.*unset"):
        config.validate()


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 10**23])
def test_seed_out_of_range_is_refused(seed):
    config = Config()
    config.training.seed = seed
    with pytest.raises(ValueError, match=f"training.seed must be an integer from 0 to {MAX_SEED}, got {seed}"):
        config.validate()


@pytest.mark.parametrize("name", sorted(MODEL_LIMITS))
def test_model_sizes_have_upper_bounds(name):
    config = Config()
    setattr(config.model, name, MODEL_LIMITS[name] + 1)
    with pytest.raises(ValueError, match=f"model.{name} must be at most {MODEL_LIMITS[name]}"):
        config.model.validate()


@pytest.mark.parametrize(
    "section, name, value, expected",
    [
        ("model", "residual", "yes", "true or false"),
        ("model", "width", "8", "a whole number"),
        ("model", "width", 8.0, "a whole number"),
        ("model", "width", 8.5, "a whole number"),
        ("model", "depth", True, "a whole number"),
        ("model", "in_channels", 1.0, "a whole number"),
        ("model", "architecture", 1, "a string"),
        ("data", "axes", 123, "a string"),
        ("data", "percentiles", "ab", "a list of 2 numbers"),
        ("data", "percentiles", [1, 2, 3], "a list of 2 numbers"),
        ("data", "augment", 1, "true or false"),
        ("training", "learning_rate", "fast", "a number"),
        ("training", "learning_rate", False, "a number"),
        ("training", "time_budget", "10", "a number or null"),
    ],
)
def test_config_fields_of_the_wrong_json_type_are_refused(section, name, value, expected):
    data = Config().to_dict()
    data[section][name] = value
    with pytest.raises(ValueError, match=re.escape(f"config field {section}.{name} must be {expected}")):
        Config.from_dict(data)


def test_json_integers_are_accepted_for_floats():
    data = Config().to_dict()
    data["training"]["learning_rate"] = 1
    data["training"]["time_budget"] = 30
    assert Config.from_dict(data).training.learning_rate == 1


@pytest.mark.parametrize("data", [None, [], 1, "config"])
def test_a_config_that_is_not_an_object_is_refused(data):
    with pytest.raises(ValueError, match="config is malformed: expected a JSON object"):
        Config.from_dict(data)


def test_a_section_that_is_not_an_object_is_refused():
    data = Config().to_dict()
    data["model"] = [1, 2]
    with pytest.raises(ValueError, match="section 'model' must be a JSON object"):
        Config.from_dict(data)
