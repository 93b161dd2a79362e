"""The training configuration: one record of what every path (CLI, schedule, sensor, UI) trains with.

The configuration lives in one file, ``fin_pipeline.yaml`` in the data directory (beside the record it
describes, so a cluster's daemon and a laptop's CLI on the same ``s3://`` store read the same one). The first
build writes it; a user may write or edit it. Every training reads it: the CLI's flags and Dagster run config
may only restate it. Each fold's checkpoint and each live model store the configuration and its hash
(:func:`configuration_hash`); a request that differs from the record is refused by name
(:func:`differences`), before anything is written.

The file has one section per entry of :data:`SECTIONS`, each a spec dataclass whose fields (with their
defaults) are the section's keys. A new field of a section's dataclass is part of the file, the hash, the
refusal message and the Dagster launchpad by itself; a new section is one line in :data:`SECTIONS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from fin_pipeline.store.layout import CONFIG_FILE
from fin_pipeline.training.spec import TrainSpec

# One section per spec dataclass: what to train and how. (A cost or execution spec is one more line here.)
SECTIONS: dict[str, type] = {"training": TrainSpec}
# The project's defaults where they differ from the library's (TrainSpec: an LSTM, up to 100 epochs, batches of
# 32, MSE at a learning rate of 1e-3, the full-size run): the quick start's CNN, 3 epochs, batches of 256, which a
# 2-core CPU builds in minutes, trained on the IC loss at 3e-3. In three epochs MSE at 1e-3 recovers half of a
# planted linear signal (stitched test IC 0.49 x the oracle's) and the IC loss at 3e-3 four fifths (0.82 x):
# benchmarks/recovery.py --quick --signals linear --set epochs=3, and the same with --set loss=mse
# --set learning_rate=0.001 (the correlation is what is scored, and MSE on returns this noisy stops early).
PROJECT_DEFAULTS: dict[str, dict[str, Any]] = {
    "training": {"model": "cnn", "epochs": 3, "batch_size": 256, "loss": "ic", "learning_rate": 3e-3}
}


class ConfigurationError(ValueError):
    """A configuration file or request that cannot be used; the message names the file or field."""


class ConfigurationChanged(ConfigurationError):
    """A requested configuration that differs from the stored record's."""


def default_configuration() -> dict[str, dict[str, Any]]:
    """Every section's fields at their defaults (the library's, then the project's)."""
    return {
        name: {**_plain(dataclasses.asdict(spec())), **PROJECT_DEFAULTS.get(name, {})}
        for name, spec in SECTIONS.items()
    }


def resolve(stored: dict[str, Any] | None, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The configuration a run asks for: the stored file's (or the defaults), then ``overrides`` (a value of None
    means "not given"); unknown sections or fields are an error naming them."""
    config = default_configuration()
    for layer, where in ((stored or {}), CONFIG_FILE), ((overrides or {}), "the request"):
        for section, values in layer.items():
            if section not in SECTIONS:
                raise ConfigurationError(f"{where}: unknown section {section!r}; valid: {sorted(SECTIONS)}")
            if not isinstance(values, dict):
                raise ConfigurationError(f"{where}: section {section!r} must be a mapping, got {values!r}")
            for key, value in values.items():
                if key not in config[section]:
                    raise ConfigurationError(
                        f"{where}: unknown field {section}.{key}; valid: {sorted(config[section])}"
                    )
                if value is not None:
                    config[section][key] = _plain(value)
    return config


def configuration_hash(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the configuration (sorted keys), first 16 hex digits."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def differences(stored: dict[str, Any], requested: dict[str, Any]) -> list[str]:
    """``"training.epochs: stored 3, requested 5"`` for every field whose value differs (missing = None)."""
    out = []
    for section in sorted(set(stored) | set(requested)):
        was, now = stored.get(section) or {}, requested.get(section) or {}
        for key in sorted(set(was) | set(now)):
            if was.get(key) != now.get(key):
                out.append(f"{section}.{key}: stored {was.get(key)!r}, requested {now.get(key)!r}")
    return out


def check_same(stored: dict[str, Any] | None, requested: dict[str, Any], what: str, how: str) -> None:
    """Raise :class:`ConfigurationChanged` when ``requested`` differs from ``stored`` (None: nothing stored),
    naming ``what`` holds the stored one, the fields that differ, and ``how`` to change it deliberately."""
    if stored is None or configuration_hash(stored) == configuration_hash(requested):
        return
    raise ConfigurationChanged(
        f"the training configuration differs from {what}'s ({configuration_hash(stored)} stored, "
        f"{configuration_hash(requested)} requested): {'; '.join(differences(stored, requested))}. Nothing was "
        f"written. To train with it deliberately: {how}"
    )


def training_spec(config: dict[str, Any]) -> TrainSpec:
    """The configuration's training section as a :class:`TrainSpec` (not validated: call ``validate()``)."""
    return TrainSpec(**config["training"])


def read_configuration(path: Path) -> dict[str, Any] | None:
    """The stored configuration file, resolved (None when there is none); an error names the file."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path}: cannot read the training configuration ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path}: the training configuration must be a mapping of sections")
    try:
        return resolve(raw)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{path}: {exc}") from None


def write_configuration(config: dict[str, Any], path: Path) -> None:
    """Write the configuration file atomically, with a header saying what it is."""
    from fin_pipeline.store.parquet import atomic_path  # pandas and pyarrow: not for the CLI's argument parsing

    header = (
        "# The training configuration of this data directory: every fold and live model is trained with it.\n"
        f"# Its hash ({configuration_hash(config)}) is stored with each; a run that asks for another is refused.\n"
        "# To change it deliberately: fin-pipeline rebuild --from DATE (archives what it replaces).\n"
    )
    with atomic_path(path) as tmp:
        tmp.write_text(header + yaml.safe_dump(config, sort_keys=True))


def _plain(value: Any) -> Any:
    """JSON/YAML-plain values (tuples as lists), so that a stored and a requested value compare equal."""
    return json.loads(json.dumps(value, default=str))
