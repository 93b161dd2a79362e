"""Stacked LSTM forecaster: the last hidden state of the top layer feeds an MLP head."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from fin_pipeline.models.base import ForecastModel, ModelConfig, check_dropout, check_int, mlp_head


@dataclasses.dataclass(kw_only=True)
class LSTMConfig(ModelConfig):
    """Defaults give 604,010 trainable parameters (the original's ~602K), 41 of them the highway."""

    hidden_size: int = 160
    num_layers: int = 3
    head_hidden: int = 384
    dropout: float = 0.2  # between LSTM layers and in the head

    def validate(self) -> None:
        super().validate()
        check_int("hidden_size", self.hidden_size)
        check_int("num_layers", self.num_layers)
        check_int("head_hidden", self.head_hidden)
        check_dropout("dropout", self.dropout)


class LSTMModel(ForecastModel):
    name = "lstm"
    config_class = LSTMConfig

    def __init__(self, config: LSTMConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, overrides)
        cfg = self.config
        self.lstm = nn.LSTM(
            cfg.n_features,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,  # torch warns about dropout on one layer
        )
        self.norm = nn.LayerNorm(cfg.hidden_size)
        self.head = mlp_head(cfg.hidden_size, cfg.head_hidden, cfg.output_size, cfg.dropout)
        # Forget-gate bias 1 (Jozefowicz et al., 2015): the cell remembers by default early in training.
        # Gate order in torch is (input, forget, cell, output); only bias_ih is touched so the sum is 1.
        with torch.no_grad():
            h = cfg.hidden_size
            for layer in range(cfg.num_layers):
                getattr(self.lstm, f"bias_ih_l{layer}")[h : 2 * h].fill_(1.0)
                getattr(self.lstm, f"bias_hh_l{layer}")[h : 2 * h].zero_()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (B, T, H)
        return self.head(self.norm(out[:, -1]))  # (B, output_size)
