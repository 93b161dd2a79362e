"""What every forecaster shares: the window contract, config validation and the MLP head.

A forecaster maps a window ``x`` of shape ``(B, seq_len, n_features)`` (default ``(B, 30, 40)``) to
``(B, output_size)``: one predicted return per window, or one column per quantile when ``output_size`` is the
number of quantiles of a :class:`~fin_pipeline.training.losses.QuantileLoss`.

Configs are ``kw_only`` dataclasses of plain values (ints, floats, strings, tuples, dicts), so
``dataclasses.asdict(config)`` can be stored in a checkpoint and loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

C = TypeVar("C", bound="ModelConfig")


def check_int(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_dropout(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def build_config(cls: type[C], overrides: Mapping[str, Any], what: str) -> C:
    """``cls(**overrides)``, but an unknown key is a ``ValueError`` naming it and the valid fields."""
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(f"unknown {what} config key(s) {unknown}; valid fields: {valid}")
    return cls(**overrides)


@dataclasses.dataclass(kw_only=True)
class ModelConfig:
    """Fields every model has: the window shape it accepts and the width of its output."""

    n_features: int = 40
    seq_len: int = 30
    output_size: int = 1
    # A linear path from the last day's features straight to the output, added to the network's own output
    # (the "autoregressive highway" of LSTNet, Lai et al. 2018). Predictable parts of daily returns are small and
    # mostly linear in the latest observations; without this path a network must find them through its pooling
    # or recurrence while fitting noise, and at a signal-to-noise ratio of ~1% it does not (measured on the
    # synthetic market's planted signal: the CNN's test IC was ~0 without it).
    highway: bool = True

    # Fields added after checkpoints were first written, with the value that rebuilds the network an older
    # checkpoint (whose stored config lacks the field) was trained as. Where the weights' shapes did not change,
    # such a checkpoint would otherwise load into the new default network and predict nonsense.
    ADDED_FIELDS: ClassVar[dict[str, Any]] = {}

    @classmethod
    def from_stored(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """A stored config (``dataclasses.asdict`` of one, as a checkpoint's spec holds it) with each field it
        predates set to the value it was trained with (:attr:`ADDED_FIELDS`)."""
        return {**cls.ADDED_FIELDS, **config}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_int("n_features", self.n_features)
        check_int("seq_len", self.seq_len)
        check_int("output_size", self.output_size)
        if not isinstance(self.highway, bool):
            raise ValueError(f"highway must be true or false, got {self.highway!r}")


class ForecastModel(nn.Module):
    """Base of all forecasters: holds ``.config`` and checks the window shape before ``_forward``."""

    name: ClassVar[str]
    config_class: ClassVar[type[ModelConfig]]

    def __init__(self, config: ModelConfig | None, overrides: Mapping[str, Any]) -> None:
        super().__init__()
        if config is None:
            config = build_config(self.config_class, overrides, self.name)
        elif overrides:
            raise TypeError(f"pass either a {self.config_class.__name__} or keyword overrides, not both")
        elif not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        self.highway = nn.Linear(config.n_features, config.output_size) if config.highway else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        # Two integer compares: cheap enough for the hot path, and turns a silent broadcast or a cryptic matmul
        # error deep inside the network into a message that names the shapes.
        if x.dim() != 3 or x.shape[1] != cfg.seq_len or x.shape[2] != cfg.n_features:
            raise ValueError(
                f"{self.name} model expects input of shape (batch, {cfg.seq_len}, {cfg.n_features}), "
                f"got {tuple(x.shape)}"
            )
        out = self._forward(x)  # (B, output_size)
        return out if self.highway is None else out + self.highway(x[:, -1, :])

    def _forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, F) -> (B, output_size)
        raise NotImplementedError


def mlp_head(in_features: int, hidden: int, out_features: int, dropout: float) -> nn.Sequential:
    """``Linear -> GELU -> Dropout -> Linear``: the regression head every model ends with."""
    return nn.Sequential(
        nn.Linear(in_features, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_features)
    )


def sinusoidal_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """The fixed sine/cosine positional table of "Attention Is All You Need", shape ``(seq_len, d_model)``."""
    position = torch.arange(seq_len, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(seq_len, d_model)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)[:, : d_model // 2]
    return table
