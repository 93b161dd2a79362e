"""1-D CNN forecaster: dilated temporal convolutions over the window, then average+max pooling over time."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from fin_pipeline.models.base import ForecastModel, ModelConfig, check_dropout, check_int, mlp_head


@dataclasses.dataclass(kw_only=True)
class CNNConfig(ModelConfig):
    """Defaults give 129,930 trainable parameters (the original's ~130K), 41 of them the highway.

    Block i is ``Conv1d(kernel_size, dilation=dilations[i], 'same' padding) -> BatchNorm -> GELU -> Dropout``
    with ``channels[i]`` output channels. Dilations 1, 2, 4, 8 with kernel 3 give a receptive field of 31
    days, the whole 30-day window.
    """

    channels: tuple[int, ...] = (64, 96, 128, 128)
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    kernel_size: int = 3
    head_hidden: int = 64
    dropout: float = 0.2

    def validate(self) -> None:
        super().validate()
        # A checkpoint's config may come back with lists; keep tuples so configs compare equal.
        self.channels, self.dilations = tuple(self.channels), tuple(self.dilations)
        if not self.channels:
            raise ValueError("channels must name at least one conv block")
        if len(self.dilations) != len(self.channels):
            raise ValueError(
                f"dilations must have one entry per conv block: {len(self.channels)} channels, "
                f"got {len(self.dilations)} dilations"
            )
        for i, (c, d) in enumerate(zip(self.channels, self.dilations, strict=True)):
            check_int(f"channels[{i}]", c)
            check_int(f"dilations[{i}]", d)
        check_int("kernel_size", self.kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that padding keeps the window length, got {self.kernel_size}")
        check_int("head_hidden", self.head_hidden)
        check_dropout("dropout", self.dropout)


class CNNModel(ForecastModel):
    name = "cnn"
    config_class = CNNConfig

    def __init__(self, config: CNNConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, overrides)
        cfg = self.config
        blocks: list[nn.Module] = []
        in_ch = cfg.n_features
        for out_ch, dilation in zip(cfg.channels, cfg.dilations, strict=True):
            blocks += [
                nn.Conv1d(in_ch, out_ch, cfg.kernel_size, dilation=dilation, padding=dilation * (cfg.kernel_size // 2)),
                nn.BatchNorm1d(out_ch),
                nn.GELU(),
                nn.Dropout(cfg.dropout),
            ]
            in_ch = out_ch
        self.convs = nn.Sequential(*blocks)
        self.head = mlp_head(2 * in_ch, cfg.head_hidden, cfg.output_size, cfg.dropout)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x.transpose(1, 2))  # (B, F, T) -> (B, C, T): Conv1d wants channels first
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)  # (B, 2C)
        return self.head(pooled)
