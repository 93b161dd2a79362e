"""Training losses; p is the prediction, y the target return, means are over the batch.

Every loss accepts ``p`` and ``y`` of shape ``(B,)`` or ``(B, 1)`` (both are flattened; different element counts
raise ``ValueError``), except :class:`QuantileLoss` with several quantiles, whose ``p`` is ``(B, Q)``.
``std`` is the population standard deviation (divide by B), so a batch of one is defined; it is computed as
``sqrt(max(var, 1e-30))`` so that a constant batch has a zero, not NaN, gradient. Losses compute in at least
float32, also on bf16/fp16 predictions from autocast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def _upcast(p: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # At least float32: under bf16/fp16 autocast a mean of squared returns would lose most of its digits.
    dtype = torch.promote_types(torch.promote_types(p.dtype, y.dtype), torch.float32)
    return p.to(dtype), y.to(dtype)


def _flat(p: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if p.numel() != y.numel():
        raise ValueError(f"prediction {tuple(p.shape)} and target {tuple(y.shape)} differ in element count")
    return _upcast(p.reshape(-1), y.reshape(-1))


def _std(r: torch.Tensor) -> torch.Tensor:
    return r.var(correction=0).clamp_min(1e-30).sqrt()


def _check_weight(name: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


class MSELoss(nn.Module):
    """mean((p - y)^2)"""

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p, y = _flat(p, y)
        return ((p - y) ** 2).mean()


class MAELoss(nn.Module):
    """mean(|p - y|)"""

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p, y = _flat(p, y)
        return (p - y).abs().mean()


class HuberLoss(nn.Module):
    """mean(h(p - y)), h(e) = e^2 / 2 if |e| <= delta else delta * (|e| - delta / 2)"""

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        if not math.isfinite(delta) or delta <= 0:
            raise ValueError(f"delta must be a finite number > 0, got {delta!r}")
        self.delta = float(delta)

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p, y = _flat(p, y)
        return F.huber_loss(p, y, delta=self.delta)


class SharpeRatioLoss(nn.Module):
    """r = tanh(p) * y;  loss = -mean(r) / (std(r) + eps), std the population standard deviation"""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = _check_weight("eps", eps)

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p, y = _flat(p, y)
        r = torch.tanh(p) * y
        return -r.mean() / (_std(r) + self.eps)


class QuantileLoss(nn.Module):
    """mean over batch and quantiles of max(q * (y - p_q), (q - 1) * (y - p_q)) (the pinball loss).

    With Q quantiles ``p`` is ``(B, Q)``, column j predicting quantile ``quantiles[j]``; ``y`` is ``(B,)`` or
    ``(B, 1)``. With one quantile, ``p`` may also be ``(B,)``. Under-prediction (y > p) costs q per unit.
    """

    def __init__(self, quantiles: Sequence[float] = (0.1, 0.5, 0.9)) -> None:
        super().__init__()
        quantiles = tuple(float(q) for q in quantiles)
        if not quantiles or not all(0.0 < q < 1.0 for q in quantiles):
            raise ValueError(f"quantiles must be a non-empty sequence of numbers in (0, 1), got {quantiles!r}")
        self.quantiles = quantiles
        self.register_buffer("q", torch.tensor(quantiles), persistent=False)

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n_q = len(self.quantiles)
        batch = y.numel()
        if p.numel() != batch * n_q or (n_q > 1 and (p.dim() != 2 or p.shape[1] != n_q)):
            raise ValueError(
                f"QuantileLoss with {n_q} quantile(s) needs a prediction of shape (B, {n_q}) for a target of "
                f"{batch} elements, got prediction {tuple(p.shape)} and target {tuple(y.shape)}"
            )
        p, y = _upcast(p.reshape(batch, n_q), y.reshape(batch, 1))
        e = y - p  # (B, Q)
        q = self.q.to(dtype=e.dtype)
        return torch.maximum(q * e, (q - 1) * e).mean()


class DirectionalAccuracyLoss(nn.Module):
    """mean((p - y)^2) + weight * mean(relu(-p * y)): the penalty is 0 when p and y agree in sign"""

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = _check_weight("weight", weight)

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p, y = _flat(p, y)
        return ((p - y) ** 2).mean() + self.weight * F.relu(-p * y).mean()


class ReturnVolatilityLoss(nn.Module):
    """r = tanh(p) * y;  loss = -mean(r) + vol_weight * std(r), std the population standard deviation"""

    def __init__(self, vol_weight: float = 0.5) -> None:
        super().__init__()
        self.vol_weight = _check_weight("vol_weight", vol_weight)

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p, y = _flat(p, y)
        r = torch.tanh(p) * y
        return -r.mean() + self.vol_weight * _std(r)


class ICLoss(nn.Module):
    """1 - corr(p, y) = 1 - mean((p - mean(p)) (y - mean(y))) / (std(p) std(y)), std the population standard
    deviation: the batch's Pearson correlation (the IC when the batch is one day's cross-section), blind to the
    prediction's scale and level, in [0, 2]"""

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p, y = _flat(p, y)
        pc, yc = p - p.mean(), y - y.mean()
        return 1.0 - (pc * yc).mean() / (_std(p) * _std(y))


class CombinedLoss(nn.Module):
    """sum_i weights[i] * losses[i](p, y); weights default to 1 for every loss"""

    def __init__(self, losses: Mapping[str, nn.Module], weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        if not losses:
            raise ValueError("CombinedLoss needs at least one loss")
        weights = dict.fromkeys(losses, 1.0) if weights is None else dict(weights)
        if set(weights) != set(losses):
            raise ValueError(f"weights keys {sorted(weights)} must match losses keys {sorted(losses)}")
        for key, w in weights.items():
            if not math.isfinite(w):
                raise ValueError(f"weight of {key!r} must be finite, got {w!r}")
        self.losses = nn.ModuleDict(losses)
        self.weights = {key: float(weights[key]) for key in losses}

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return sum(w * self.losses[key](p, y) for key, w in self.weights.items())


LOSSES: dict[str, type[nn.Module]] = {
    "mse": MSELoss,
    "mae": MAELoss,
    "huber": HuberLoss,
    "sharpe": SharpeRatioLoss,
    "quantile": QuantileLoss,
    "directional": DirectionalAccuracyLoss,
    "return_volatility": ReturnVolatilityLoss,
    "ic": ICLoss,
    "combined": CombinedLoss,
}
LOSS_NAMES: tuple[str, ...] = tuple(LOSSES)

# Preset name -> {loss name: (weight, loss kwargs)}. All presets take a (B,) or (B, 1) prediction. The weights
# assume targets of order one (standardized returns); on raw daily returns the MSE-like terms (~1e-4) are dwarfed
# by the Sharpe-like ones (~0.1).
LOSS_PRESETS: dict[str, dict[str, tuple[float, dict[str, Any]]]] = {
    # outlier-tolerant regression: fat-tailed returns pull less than under MSE
    "robust": {"huber": (0.5, {"delta": 1.0}), "mae": (0.5, {})},
    # regression that is also pushed to get the sign of the move right
    "trading": {"mse": (1.0, {}), "directional": (1.0, {"weight": 1.0})},
    # regression anchored, Sharpe of the tanh-position strategy maximized
    "risk_adjusted": {"sharpe": (1.0, {}), "mse": (1.0, {})},
    # a bit of everything: fit, direction and risk-adjusted return
    "balanced": {"mse": (1.0, {}), "directional": (0.5, {"weight": 1.0}), "sharpe": (0.5, {})},
    # median regression (pinball at q=0.5, i.e. MAE / 2) plus the sign penalty
    "quantile_trading": {"quantile": (1.0, {"quantiles": (0.5,)}), "directional": (0.5, {"weight": 1.0})},
    # mean return of the strategy, penalized for its volatility, anchored by MSE
    "low_volatility": {"return_volatility": (1.0, {"vol_weight": 1.0}), "mse": (1.0, {})},
}


def create_loss_function(name: str, **kwargs: Any) -> nn.Module:
    """A loss by name (:data:`LOSS_NAMES`, kwargs go to its constructor) or a preset (:data:`LOSS_PRESETS`).

    ``create_loss_function("combined", losses={...}, weights={...})`` builds a :class:`CombinedLoss`.
    Unknown names raise ``ValueError`` listing every valid name; presets take no kwargs.
    """
    key = name.lower() if isinstance(name, str) else name
    if key in LOSSES:
        return LOSSES[key](**kwargs)
    if key in LOSS_PRESETS:
        if kwargs:
            raise ValueError(f"loss preset {key!r} takes no arguments, got {sorted(kwargs)}")
        parts = LOSS_PRESETS[key]
        return CombinedLoss(
            losses={part: LOSSES[part](**kw) for part, (_, kw) in parts.items()},
            weights={part: w for part, (w, _) in parts.items()},
        )
    raise ValueError(f"unknown loss {name!r}; valid names: {list(LOSS_NAMES)}, presets: {list(LOSS_PRESETS)}")
