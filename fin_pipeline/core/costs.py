"""The cost model's settings: which model charges a book's trades, and its parameters, validated on creation.

The formulas, and the functions that charge a book with them, are in :mod:`fin_pipeline.backtest.costs`; the
settings (``FIN_PIPELINE_COST_MODEL``, ``FIN_PIPELINE_CAPITAL``, ...) and the per-run Dagster config build this.
"""

from __future__ import annotations

import dataclasses
import math

COST_MODELS = ("spread_impact", "flat")


def _field(default, description: str):
    return dataclasses.field(default=default, metadata={"description": description})


@dataclasses.dataclass(frozen=True)
class CostModel:
    """How a book's trades are charged (:mod:`fin_pipeline.backtest.costs` states the formulas)."""

    cost_model: str = _field(
        "spread_impact",
        "spread_impact: half-spread from daily high/low (Corwin–Schultz) + k·σ·√(traded/ADV); flat: cost_bps.",
    )
    capital: float = _field(10_000_000.0, "Dollars the books trade: traded notional = |weight change| × capital.")
    spread_floor_bps: float = _field(1.0, "Floor of the estimated half-spread, bps of traded notional.")
    impact_k: float = _field(1.0, "k of the square-root impact k·σ·√(traded/ADV) (Tóth et al. 2011: order 1).")
    cost_bps: float = _field(5.0, "flat only: bps of traded notional, each way.")

    def __post_init__(self) -> None:
        if self.cost_model not in COST_MODELS:
            raise ValueError(f"cost_model (FIN_PIPELINE_COST_MODEL) {self.cost_model!r} is not one of {COST_MODELS}")
        checks = (
            ("capital", "FIN_PIPELINE_CAPITAL", self.capital, "> 0 dollars", lambda v: v > 0),
            ("spread_floor_bps", "FIN_PIPELINE_SPREAD_FLOOR_BPS", self.spread_floor_bps, ">= 0", lambda v: v >= 0),
            ("impact_k", "FIN_PIPELINE_IMPACT_K", self.impact_k, ">= 0", lambda v: v >= 0),
            ("cost_bps", "FIN_PIPELINE_COST_BPS", self.cost_bps, ">= 0", lambda v: v >= 0),
        )
        for name, env, value, rule, ok in checks:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and ok(value)):
                raise ValueError(f"{name} ({env}) must be a finite number {rule}, got {value!r}")

    @property
    def needs_inputs(self) -> bool:
        """Whether the predictions must carry the cost inputs (half-spread, σ, ADV; ``flat`` needs none)."""
        return self.cost_model != "flat"

    def with_capital(self, capital: float) -> CostModel:
        return dataclasses.replace(self, capital=capital)

    def describe(self) -> str:
        """The model in words, as the report states it."""
        if self.cost_model == "flat":
            return f"flat {self.cost_bps:g} bps of traded notional"
        return (
            f"half-spread (Corwin–Schultz from daily high/low, floor {self.spread_floor_bps:g} bps) + impact "
            f"{self.impact_k:g}·σ·√(traded/ADV), at capital {money(self.capital)}"
        )


def money(dollars: float) -> str:
    """$1M, $10M, $2.5B, $300k."""
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(dollars) >= size:
            return f"${dollars / size:.3g}{unit}"
    return f"${dollars:.3g}"
