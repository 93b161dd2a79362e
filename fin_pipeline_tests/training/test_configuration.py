"""The training configuration: one file, its hash, and a request that differs refused by name."""

import dataclasses
import hashlib
import json

import pytest
import yaml

from fin_pipeline.training.configuration import (
    PROJECT_DEFAULTS,
    ConfigurationChanged,
    ConfigurationError,
    check_same,
    configuration_hash,
    default_configuration,
    read_configuration,
    resolve,
    training_spec,
    write_configuration,
)
from fin_pipeline.training.spec import TrainSpec


def test_defaults_are_the_library_spec_with_the_project_defaults_over_it():
    config = default_configuration()
    library = {f.name: f.default for f in dataclasses.fields(TrainSpec) if f.name != "model_config"}
    expected = {**library, "model_config": {}, **PROJECT_DEFAULTS["training"]}
    assert config == {"training": expected}
    assert training_spec(config) == TrainSpec(**expected)


def test_the_hash_is_sha256_of_the_canonical_json():
    config = resolve(None, {"training": {"epochs": 7}})
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    assert configuration_hash(config) == hashlib.sha256(text.encode()).hexdigest()[:16]
    # key order does not matter; any value does
    assert configuration_hash({"training": dict(reversed(config["training"].items()))}) == configuration_hash(config)
    assert configuration_hash(resolve(None, {"training": {"epochs": 8}})) != configuration_hash(config)


def test_the_file_round_trips_and_overrides_may_only_restate_it(tmp_path):
    path = tmp_path / "fin_pipeline.yaml"
    stored = resolve(None, {"training": {"epochs": 1, "model": "cnn", "model_config": {"hidden_size": 8}}})
    write_configuration(stored, path)
    assert read_configuration(path) == stored
    assert yaml.safe_load(path.read_text())["training"]["epochs"] == 1
    same = resolve(read_configuration(path), {"training": {"epochs": 1, "loss": None}})  # None: not given
    check_same(stored, same, str(path), "the deliberate command")
    other = resolve(read_configuration(path), {"training": {"epochs": 2, "batch_size": 64}})
    with pytest.raises(ConfigurationChanged) as refused:
        check_same(stored, other, str(path), "the deliberate command")
    message = str(refused.value)
    assert (
        f"differs from {path}'s ({configuration_hash(stored)} stored, {configuration_hash(other)} requested)" in message
    )
    assert "training.batch_size: stored 256, requested 64; training.epochs: stored 1, requested 2." in message
    assert message.endswith("Nothing was written. To train with it deliberately: the deliberate command")
    check_same(None, other, str(path), "x")  # nothing stored yet: anything goes (the first build writes it)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("training:\n  epochz: 3\n", r"unknown field training\.epochz"),
        ("costs:\n  bps: 5\n", "unknown section 'costs'"),
        ("training: 3\n", "section 'training' must be a mapping"),
        ("- a\n- b\n", "must be a mapping of sections"),
        ("training: [\n", "cannot read the training configuration"),
    ],
)
def test_a_bad_file_names_the_file_and_the_field(tmp_path, text, named):
    path = tmp_path / "fin_pipeline.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=named) as refused:
        read_configuration(path)
    assert str(path) in str(refused.value)
