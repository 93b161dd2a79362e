"""Dagster ``Config`` classes derived from the library's spec dataclasses, so each default and description lives once.

A spec field's ``metadata`` carries its description; :func:`config_from_spec` turns the fields into launchpad
fields with the same type, default and description.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from dagster import Config, Failure
from pydantic import Field, create_model

from fin_pipeline.store.layout import CONFIG_FILE
from fin_pipeline.training.configuration import (
    ConfigurationError,
    check_same,
    read_configuration,
    resolve,
    training_spec,
    write_configuration,
)
from fin_pipeline.training.spec import TrainSpec

# How a changed training configuration is made deliberately (said in every refusal).
CHANGE_HOW = (
    "fin-pipeline rebuild --from DATE with the flags of the new configuration (it archives the folds from DATE, "
    "the live models and the old configuration file, then trains them with the new one)"
)
FROM_FILE = f" Empty: as in the training configuration ({CONFIG_FILE} in the data directory)."


def config_from_spec(
    name: str,
    spec: type,
    doc: str,
    exclude: tuple[str, ...] = (),
    rename: Mapping[str, str] | None = None,
    defaults: object | None = None,
    from_file: bool = False,
) -> type[Config]:
    """A ``Config`` subclass with one field per field of the dataclass ``spec`` (``rename``: spec name -> config
    name, for names pydantic reserves such as ``model_config``). ``defaults``: an instance of ``spec`` whose values
    are the fields' defaults (e.g. the one built from the ``FIN_PIPELINE_*`` settings); else the spec's own.
    ``from_file``: every field is optional, empty meaning the training configuration file's value (see
    :func:`training_configuration`)."""
    rename = dict(rename or {})
    hints = typing.get_type_hints(spec)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(spec):
        if f.name in exclude:
            continue
        if defaults is not None:
            default = getattr(defaults, f.name)
        else:
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        kind, text = hints[f.name], f.metadata["description"]
        if from_file:
            kind, default, text = kind | None, None, text + FROM_FILE
        # Ranges are checked by the spec's validate(), with a message naming the field and a failure that is
        # not retried; a pydantic bound here would fail inside the step as a retryable error instead.
        fields[rename.get(f.name, f.name)] = (kind, Field(default=default, description=text))
    return create_model(name, __base__=Config, __doc__=doc, **fields)


def spec_values(config: Config, rename: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The config's values under the spec's field names."""
    back = {v: k for k, v in (rename or {}).items()}
    return {back.get(k, k): v for k, v in config.model_dump().items()}


# pydantic reserves the name model_config: the launchpad calls TrainSpec's model_config model_options.
TRAINING_RENAME = {"model_config": "model_options"}


def training_configuration(
    store, overrides: dict[str, dict[str, Any]] | None, what: str
) -> tuple[dict[str, Any], TrainSpec]:
    """The training configuration a Dagster step trains with, and its validated training spec: the data directory's
    configuration file (written from the defaults and ``overrides`` by the first build), which ``overrides`` (run
    config; None = not given) may only restate. Every path (the CLI, the schedule and sensor, a UI
    materialization) reads it here; a bad value, then a request that differs from the file, fails before anything
    is written, naming the fields (stored vs requested)."""
    path, stored, requested, spec = _checked(store, overrides, what)
    if stored is None:  # the first build records what it trains with
        write_configuration(requested, path)
        store.push(path)
    return requested, spec


def check_run_training_config(context, store, what: str) -> None:
    """For a step that writes before its run's training step (a fold's boundaries and normalization): the same
    checks, now, of the run's ``trained_model`` config, so that a refused run writes nothing at all."""
    values = (context.run.run_config or {}).get("ops", {}).get("trained_model", {}).get("config") or {}
    if values:
        back = {v: k for k, v in TRAINING_RENAME.items()}
        _checked(store, {"training": {back.get(k, k): v for k, v in values.items()}}, what)


def _checked(store, overrides, what: str) -> tuple[Any, dict[str, Any] | None, dict[str, Any], TrainSpec]:
    """``(path, stored, requested, spec)``: the file, the configuration asked for and its spec, validated, then
    compared with the file's; a ``Failure`` (not retried) naming what is wrong otherwise."""
    path = store.pull(store.configuration_path())
    try:
        stored = read_configuration(path)
        requested = resolve(stored, overrides)
    except ConfigurationError as exc:
        raise Failure(f"{what}: {exc}", allow_retries=False) from None
    try:
        spec = training_spec(requested).validate()
    except (TypeError, ValueError) as exc:
        raise Failure(f"{what} config rejected before training: {exc}", allow_retries=False) from exc
    try:
        check_same(stored, requested, store.describe(path), CHANGE_HOW)
    except ConfigurationError as exc:
        raise Failure(f"{what}: {exc}", allow_retries=False) from None
    return path, stored, requested, spec
