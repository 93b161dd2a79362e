"""The ``FIN_PIPELINE_*`` variables read one by one: the error that names a bad one, and the readers that
:meth:`fin_pipeline.core.settings.Settings.from_env` composes (costs, the source, tracking, the board's models)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from fin_pipeline.core.choices import BOARD_MODELS
from fin_pipeline.core.costs import CostModel

SOURCES = ("synthetic", "polygon", "csv")


class SettingsError(ValueError):
    """A ``FIN_PIPELINE_*`` variable (or a value passed in code) that cannot be used."""


def check_models(models: tuple[str, ...]) -> tuple[str, ...]:
    """``models`` when each is a known board model, none twice, at least one; else SettingsError naming the setting."""
    unknown = [m for m in models if m not in BOARD_MODELS]
    if unknown or not models or len(set(models)) != len(models):
        said = f"unknown {unknown}" if unknown else "empty" if not models else "a model listed twice"
        raise SettingsError(
            f"FIN_PIPELINE_MODELS={','.join(models)!r}: {said}; the known models are {', '.join(BOARD_MODELS)}"
        )
    return models


def variable(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def parsed(env: Mapping[str, str], name: str, parse, what: str):
    raw = variable(env, name)
    try:
        return parse(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not {what}") from None


OFF_WORDS, ON_WORDS = ("0", "off", "false", "no"), ("1", "on", "true", "yes", "local")


def tracking_uri(value: str, env: Mapping[str, str]) -> str | None:
    """``FIN_PIPELINE_MLFLOW``: off (``0``), a local store (``1``: the file ``$DAGSTER_HOME/mlflow.db``, MLflow's
    own default that ``mlflow ui`` run there shows; MLflow 3 no longer accepts new runs in a ``./mlruns`` folder),
    or a tracking URI (``http://host:5000``, ``sqlite:////abs/path/mlflow.db``)."""
    if value.lower() in OFF_WORDS:
        return None
    if value.lower() in ON_WORDS:
        home = Path(variable(env, "DAGSTER_HOME") or ".").resolve()
        return f"sqlite:///{home / 'mlflow.db'}"
    if re.match(r"^(https?|file|sqlite|postgresql|mysql|databricks)[:+]", value):
        return value
    raise SettingsError(
        f"FIN_PIPELINE_MLFLOW={value!r} is not 0, 1 or a tracking URI (http://host:5000, sqlite:////path/mlflow.db)"
    )


# Costs: each variable and the CostModel field it sets.
COST_VARIABLES = {
    "FIN_PIPELINE_COST_MODEL": "cost_model",
    "FIN_PIPELINE_CAPITAL": "capital",
    "FIN_PIPELINE_SPREAD_FLOOR_BPS": "spread_floor_bps",
    "FIN_PIPELINE_IMPACT_K": "impact_k",
    "FIN_PIPELINE_COST_BPS": "cost_bps",
}


def costs_from_env(env: Mapping[str, str]) -> CostModel:
    """The cost model from the ``FIN_PIPELINE_*`` cost variables (unset ones keep CostModel's defaults)."""
    kw: dict[str, object] = {}
    for name, field in COST_VARIABLES.items():
        if variable(env, name):
            kw[field] = variable(env, name).lower() if field == "cost_model" else parsed(env, name, float, "a number")
    try:
        return CostModel(**kw)  # type: ignore[arg-type]
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def resolve_source(env: Mapping[str, str]) -> str:
    """``auto`` (the default): csv when FIN_PIPELINE_CSV_DIR is set, polygon when POLYGON_API_KEY is, else synthetic."""
    choice = variable(env, "FIN_PIPELINE_SOURCE").lower() or "auto"
    if choice == "auto":
        if variable(env, "FIN_PIPELINE_CSV_DIR"):
            return "csv"
        return "polygon" if variable(env, "POLYGON_API_KEY") else "synthetic"
    if choice not in SOURCES:
        raise SettingsError(f"FIN_PIPELINE_SOURCE={choice!r} is not one of {['auto', *SOURCES]}")
    if choice == "polygon" and not variable(env, "POLYGON_API_KEY"):
        raise SettingsError("FIN_PIPELINE_SOURCE=polygon needs POLYGON_API_KEY to be set")
    return choice
