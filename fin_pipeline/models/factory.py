"""Build a model by name, and rebuild one from the plain-dict spec a checkpoint stores."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import nn

from fin_pipeline.models.attention import AttentionModel
from fin_pipeline.models.base import ForecastModel, build_config
from fin_pipeline.models.cnn import CNNModel
from fin_pipeline.models.ensemble import EnsembleModel
from fin_pipeline.models.lstm import LSTMModel

MODELS: dict[str, type[ForecastModel]] = {cls.name: cls for cls in (LSTMModel, CNNModel, AttentionModel, EnsembleModel)}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def create_model(name: str, **config: Any) -> ForecastModel:
    """``create_model("lstm", hidden_size=64)``: the named model (case-insensitive) with config overrides.

    Raises ``ValueError`` for an unknown name (listing :data:`MODEL_NAMES`), an unknown config key (listing the
    valid fields) or an invalid value.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {list(MODEL_NAMES)}")
    cls = MODELS[key]
    return cls(build_config(cls.config_class, config, key))


def model_spec(model: nn.Module) -> dict[str, Any]:
    """``{"name": ..., "config": {...}}`` of plain values: what a checkpoint stores to rebuild ``model``."""
    if not isinstance(model, ForecastModel):
        raise TypeError(f"model_spec needs a fin_pipeline forecaster, got {type(model).__name__}")
    return {"name": model.name, "config": dataclasses.asdict(model.config)}


def model_from_spec(spec: Mapping[str, Any]) -> ForecastModel:
    """The freshly initialized model that :func:`model_spec` described; load the state dict into it."""
    if not isinstance(spec, Mapping) or set(spec) != {"name", "config"}:
        raise ValueError(f"a model spec is a dict with exactly the keys 'name' and 'config', got {spec!r}")
    cls = MODELS.get(spec["name"].lower() if isinstance(spec["name"], str) else spec["name"])
    config = cls.config_class.from_stored(spec["config"]) if cls is not None else dict(spec["config"])
    return create_model(spec["name"], **config)
