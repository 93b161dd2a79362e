"""The candle source travels with the run: resolved once where the run is launched, kept in the run's tags.

A step runs wherever its executor puts it (a Celery worker, a pod), and each of those processes loads the code
location from its own environment, where the source could resolve differently: under ``FIN_PIPELINE_SOURCE=auto``
a worker without ``POLYGON_API_KEY`` would build synthetic candles inside a run started on Polygon data. So the
process that launches a run records its source in the run's tags, the source's name and its configuration but
never a secret (``fin_pipeline/source``, ``fin_pipeline/source_config``), and ``raw_candles`` fetches from that
source, taking the secret from its own environment: a worker that lacks it fails, naming the variable, before
any request, instead of choosing another source.

The tags are written by the nightly schedule's run requests and by the Celery executor before it submits a run's
first step (:func:`carry_source`: runs launched from the UI or with ``dagster job execute``). A run without them
(in process, or on one machine) fetches from the resource of the process it runs in, the launching one.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from typing import Any

from dagster import Failure

from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs.resources import (
    CandleSourceResource,
    CsvDirectoryResource,
    PolygonResource,
    SyntheticMarketResource,
    candle_source_resource,
)
from fin_pipeline.sources.base import CandleSource

SOURCE_TAG = "fin_pipeline/source"
SOURCE_CONFIG_TAG = "fin_pipeline/source_config"
KINDS: dict[str, type[CandleSourceResource]] = {
    "synthetic": SyntheticMarketResource,
    "polygon": PolygonResource,
    "csv": CsvDirectoryResource,
}
# Config fields that are secrets: never in a tag, read from the environment of the process that fetches.
SECRETS: dict[str, dict[str, str]] = {"polygon": {"api_key": "POLYGON_API_KEY"}}


def source_spec(resource: CandleSourceResource) -> tuple[str, dict[str, Any]] | None:
    """The source's name and its configuration without secrets; None for a resource of another kind (a test's)."""
    for name, cls in KINDS.items():
        if type(resource) is cls:
            secrets = SECRETS.get(name, {})
            return name, {f: getattr(resource, f) for f in cls.model_fields if f not in secrets}
    return None


def source_tags(resource: CandleSourceResource) -> dict[str, str]:
    """The run tags that carry ``resource``'s source (none for a resource of another kind)."""
    spec = source_spec(resource)
    if spec is None:
        return {}
    name, config = spec
    return {SOURCE_TAG: name, SOURCE_CONFIG_TAG: json.dumps(config, sort_keys=True)}


def launch_tags() -> dict[str, str]:
    """The tags of a run this process launches: the source its settings choose, as the code location's
    ``candle_source`` resource (``definitions.py``) is built from them."""
    return source_tags(candle_source_resource(load_settings()))


def carry_source(instance, run) -> None:
    """Tag ``run`` with the source this process's settings choose, unless it already carries one."""
    if SOURCE_TAG not in run.tags:
        instance.add_run_tags(run.run_id, launch_tags())


def source_for_run(resource: CandleSourceResource, tags: Mapping[str, str]) -> CandleSource:
    """The source a run fetches from: the one its tags carry, else ``resource``.

    When the tags name the source ``resource`` configures, ``resource`` builds it; otherwise the source is built
    from the tags, with its secret from this process's environment, and a missing secret is a Failure naming
    the variable (no retry: a retry in the same environment would fail the same way).
    """
    name = tags.get(SOURCE_TAG)
    if name is None:
        return resource.build()
    try:
        config = json.loads(tags.get(SOURCE_CONFIG_TAG) or "{}")
    except json.JSONDecodeError:
        raise Failure(f"raw_candles: the run's tag {SOURCE_CONFIG_TAG} is not JSON", allow_retries=False) from None
    if source_spec(resource) == (name, config):
        return resource.build()
    if name not in KINDS:
        raise Failure(
            f"raw_candles: the run's tag {SOURCE_TAG}={name!r} is not a source {list(KINDS)}", allow_retries=False
        )
    secrets: dict[str, str] = {}
    for field, variable in SECRETS.get(name, {}).items():
        value = os.environ.get(variable, "").strip()
        if not value:
            raise Failure(
                f"raw_candles: this run fetches from {name} (chosen where it was launched: run tag "
                f"{SOURCE_TAG}={name}), but {variable} is not set on this worker ({socket.gethostname()}); set "
                f"{variable} in every worker's environment, or launch the run with another FIN_PIPELINE_SOURCE",
                allow_retries=False,
            )
        secrets[field] = value
    try:
        carried = KINDS[name](**config, **secrets)
    except (TypeError, ValueError) as exc:  # a tag written by another version, or by hand
        raise Failure(
            f"raw_candles: the run's tag {SOURCE_CONFIG_TAG} does not configure a {name} source: {exc}",
            allow_retries=False,
        ) from None
    return carried.build()
