"""Dagster ``Config`` classes derived from the library's spec dataclasses, so each default and description lives once.

A spec field's ``metadata`` carries its description; :func:`config_from_spec` turns the fields into launchpad
fields with the same type, default and description.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from dagster import Config
from pydantic import Field, create_model


def config_from_spec(
    name: str,
    spec: type,
    doc: str,
    exclude: tuple[str, ...] = (),
    rename: Mapping[str, str] | None = None,
    defaults: object | None = None,
) -> type[Config]:
    """A ``Config`` subclass with one field per field of the dataclass ``spec`` (``rename``: spec name -> config
    name, for names pydantic reserves such as ``model_config``). ``defaults``: an instance of ``spec`` whose values
    are the fields' defaults (e.g. the one built from the ``FIN_PIPELINE_*`` settings); else the spec's own."""
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
        # Ranges are checked by the spec's validate(), with a message naming the field and a failure that is
        # not retried; a pydantic bound here would fail inside the step as a retryable error instead.
        fields[rename.get(f.name, f.name)] = (
            hints[f.name],
            Field(default=default, description=f.metadata["description"]),
        )
    return create_model(name, __base__=Config, __doc__=doc, **fields)


def spec_values(config: Config, rename: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The config's values under the spec's field names."""
    back = {v: k for k, v in (rename or {}).items()}
    return {back.get(k, k): v for k, v in config.model_dump().items()}
