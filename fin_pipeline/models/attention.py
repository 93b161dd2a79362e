"""Transformer-encoder forecaster: features to ``d_model``, add positions, encode, read out the mean or the last day."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import nn

from fin_pipeline.models.base import (
    ForecastModel,
    ModelConfig,
    check_choice,
    check_dropout,
    check_int,
    mlp_head,
    sinusoidal_encoding,
)

POSITIONAL_ENCODINGS = ("learned", "sinusoidal")
READOUTS = ("mean", "last")


@dataclasses.dataclass(kw_only=True)
class AttentionConfig(ModelConfig):
    """Defaults give 415,146 trainable parameters (the original's ~410K; 41 of them the highway); ``sinusoidal``
    positions save 3,840."""

    d_model: int = 128
    num_heads: int = 8
    num_layers: int = 3
    dim_feedforward: int = 256
    head_hidden: int = 64
    dropout: float = 0.1
    positional_encoding: str = "learned"
    # What the head reads: "mean" the encoder's outputs averaged over the window's days, "last" the last day's
    # output (which attends to every day of the window).
    readout: str = "mean"

    ADDED_FIELDS: ClassVar[dict[str, Any]] = {"readout": "mean"}

    def validate(self) -> None:
        super().validate()
        for name in ("d_model", "num_heads", "num_layers", "dim_feedforward", "head_hidden"):
            check_int(name, getattr(self, name))
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads})")
        check_dropout("dropout", self.dropout)
        check_choice("positional_encoding", self.positional_encoding, POSITIONAL_ENCODINGS)
        check_choice("readout", self.readout, READOUTS)


class AttentionModel(ForecastModel):
    name = "attention"
    config_class = AttentionConfig

    def __init__(self, config: AttentionConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, overrides)
        cfg = self.config
        self.input_proj = nn.Linear(cfg.n_features, cfg.d_model)
        if cfg.positional_encoding == "learned":
            self.position = nn.Parameter(torch.empty(1, cfg.seq_len, cfg.d_model))
            nn.init.normal_(self.position, std=0.02)
        else:
            self.register_buffer("position", sinusoidal_encoding(cfg.seq_len, cfg.d_model).unsqueeze(0))
        layer = nn.TransformerEncoderLayer(
            cfg.d_model,
            cfg.num_heads,
            dim_feedforward=cfg.dim_feedforward,
            dropout=cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,  # pre-norm: trains stably without a learning-rate warm-up
        )
        # Nested tensors only help with padding masks; there are none, and pre-norm layers cannot use them.
        self.encoder = nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        # TransformerEncoder deep-copies one layer, so every layer would start with the same weights.
        for clone in self.encoder.layers:
            clone.self_attn._reset_parameters()
            clone.linear1.reset_parameters()
            clone.linear2.reset_parameters()
        self.norm = nn.LayerNorm(cfg.d_model)  # pre-norm layers leave the residual stream un-normalized
        self.head = mlp_head(cfg.d_model, cfg.head_hidden, cfg.output_size, cfg.dropout)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input_proj(x) + self.position  # (B, T, D)
        h = self.norm(self.encoder(h))  # (B, T, D)
        return self.head(h[:, -1] if self.config.readout == "last" else h.mean(dim=1))  # (B, output_size)
