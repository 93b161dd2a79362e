"""Ensemble forecaster: LSTM, CNN and Attention members mixed by softmax(learned logits)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fin_pipeline.models.attention import AttentionConfig, AttentionModel
from fin_pipeline.models.base import ForecastModel, ModelConfig, build_config
from fin_pipeline.models.cnn import CNNConfig, CNNModel
from fin_pipeline.models.lstm import LSTMConfig, LSTMModel

# Member name -> (model class, config class); the order fixes the order of the logits and of the init.
MEMBERS: dict[str, tuple[type[ForecastModel], type[ModelConfig]]] = {
    "lstm": (LSTMModel, LSTMConfig),
    "cnn": (CNNModel, CNNConfig),
    "attention": (AttentionModel, AttentionConfig),
}
_SHARED = ("n_features", "seq_len", "output_size", "highway")


@dataclasses.dataclass(kw_only=True)
class EnsembleConfig(ModelConfig):
    """The window shape and output width are set once, here; ``lstm``/``cnn``/``attention`` hold per-member
    overrides of the other fields (a plain dict, e.g. ``{"hidden_size": 64}``).

    Defaults give 1,149,007 trainable parameters: the three default members without highways of their own, 3 mixing
    logits and the ensemble's one highway (41).
    """

    lstm: dict[str, Any] = dataclasses.field(default_factory=dict)
    cnn: dict[str, Any] = dataclasses.field(default_factory=dict)
    attention: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_stored(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        config = super().from_stored(config)
        for member, (_, member_class) in MEMBERS.items():
            if isinstance(config.get(member, {}), Mapping):  # else validate names the bad value
                config[member] = member_class.from_stored(config.get(member, {}))
        return config

    def validate(self) -> None:
        super().validate()
        for member, (_, member_class) in MEMBERS.items():
            overrides = getattr(self, member)
            if isinstance(overrides, dict) and member_class.ADDED_FIELDS:
                # Written out, so that a stored spec says which variant the member is (see from_stored).
                added = member_class.ADDED_FIELDS
                defaults = {f.name: f.default for f in dataclasses.fields(member_class) if f.name in added}
                setattr(self, member, {**defaults, **overrides})
            self.member_config(member)  # raises on a bad key or value, at config time rather than build time

    def member_config(self, member: str) -> ModelConfig:
        overrides = getattr(self, member)
        if not isinstance(overrides, dict):
            raise ValueError(f"ensemble {member} must be a dict of {member} config overrides, got {overrides!r}")
        shared = sorted(set(overrides) & set(_SHARED))
        if shared:
            raise ValueError(f"set {shared} on the ensemble config, not in its {member} overrides")
        shared_values = {name: getattr(self, name) for name in _SHARED}
        shared_values["highway"] = False  # the ensemble has one highway of its own; the members' would go unused
        return build_config(MEMBERS[member][1], {**overrides, **shared_values}, f"ensemble {member}")


class EnsembleModel(ForecastModel):
    name = "ensemble"
    config_class = EnsembleConfig

    def __init__(self, config: EnsembleConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, overrides)
        self.members = nn.ModuleDict(
            {member: model_cls(self.config.member_config(member)) for member, (model_cls, _) in MEMBERS.items()}
        )
        self.logits = nn.Parameter(torch.zeros(len(MEMBERS)))  # equal weights at start

    def member_weights(self) -> torch.Tensor:
        """The current mixing weights, ``softmax(logits)``, in the order of :data:`MEMBERS` (sum to 1)."""
        return torch.softmax(self.logits, dim=0)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        # The ensemble checked the shape once; members skip their own check.
        preds = torch.stack([m._forward(x) for m in self.members.values()], dim=-1)  # (B, output_size, M)
        return preds @ self.member_weights()  # (B, output_size)
