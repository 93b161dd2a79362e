"""What a report's numbers rest on, said first: where the prices came from, how the universe was chosen, when the
books trade and what they pay. Written from parameters, so that a report can never claim more than its run did.
No Dagster here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

SOURCE_WORDS = {
    "synthetic": "simulated prices: no real market (the embedded synthetic market; no number below is evidence "
    "about real stocks)",
    "csv": "vendor CSV files (real prices as exported, adjusted by the file's Adj Close when present)",
    "polygon": "Polygon.io daily aggregates (real prices, split-adjusted)",
}
EXECUTION_WORDS = {
    "close": "close: each book is formed from data through close t and earns close t → close t+1 (h > 1: h-day "
    "tranches, close to close); not executable from a run after the close",
    "next_open": "next_open: each book is formed from data through close t and held from the open of t+1 to the "
    "open of t+2 (h > 1: tranches held h sessions, open to open)",
    "next_close": "next_close: each book is formed from data through close t, entered at close t+1 and held close "
    "to close",
}


@dataclasses.dataclass(frozen=True)
class Provenance:
    """The facts a reader needs before any number.

    ``sources``: the source name of every ticker's stored candles (``synthetic``, ``csv``, ``polygon``);
    ``universe``: the tickers; ``default_universe``: the hand-picked list the package ships, to tell a default
    universe from a user-given one; ``execution`` (:data:`EXECUTION_WORDS`); ``cost_model`` with its
    ``cost_params`` (``flat``: ``{"cost_bps": ...}``).
    """

    sources: Sequence[str]
    universe: Sequence[str]
    default_universe: Sequence[str]
    execution: str
    cost_model: str
    cost_params: Mapping[str, Any]
    cost_words: str | None = None  # the cost model in words (``CostModel.describe``); None: from the parameters
    # A point-in-time universe: the rule (``top:N:field``) and its words, and each fold's universe record (fold,
    # as_of, count, entered, left: ``features.universe.membership``); None: a hand-picked list.
    rule: str | None = None
    rule_words: str | None = None
    folds_universe: Sequence[Mapping[str, Any]] = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.sources) - set(SOURCE_WORDS))
        if unknown or not self.sources:
            raise ValueError(f"report header: source(s) {unknown or '(none)'} not one of {sorted(SOURCE_WORDS)}")
        if self.execution not in EXECUTION_WORDS:
            raise ValueError(f"report header: execution {self.execution!r} not one of {sorted(EXECUTION_WORDS)}")
        if self.cost_model == "flat" and "cost_bps" not in self.cost_params:
            raise ValueError("report header: cost_model 'flat' needs cost_params {'cost_bps': ...}")

    @property
    def simulated(self) -> bool:
        return "synthetic" in self.sources

    def lines(self) -> list[str]:
        """The report's first lines: source, universe, execution, costs."""
        sources = sorted(set(self.sources))
        source = "; ".join(f"{SOURCE_WORDS[s]}" for s in sources)
        if len(sources) > 1:
            source = f"mixed sources across tickers ({', '.join(sources)}): {source}"
        tickers = ", ".join(self.universe)
        per_fold = []
        if self.rule is not None:
            universe = (
                f"point-in-time, FIN_PIPELINE_UNIVERSE_RULE={self.rule}: {self.rule_words}; candidate pool of "
                f"{len(self.universe)} tickers"
            )
            churn = churn_words(self.folds_universe)
            per_fold = [f"**Universe per fold** (count; names in / out since the previous fold): {churn}."]
        elif list(self.universe) == list(self.default_universe):
            universe = (
                f"the default hand-picked list of {len(self.universe)} large US stocks ({tickers}): survivorship "
                "bias: chosen today, among companies that survived and grew, so a backtest on them flatters any "
                "long bias"
            )
            if self.simulated:
                universe += " (here the names only label simulated series)"
        else:
            universe = (
                f"hand-picked, user-given ({len(self.universe)} tickers: {tickers}; FIN_PIPELINE_UNIVERSE): chosen "
                "today, not as of each fold"
            )
        if self.cost_model == "flat":
            costs = (
                f"flat {float(self.cost_params['cost_bps']):g} bps of traded notional, every stock, every day, at any "
                "size (no spread, no market impact)"
            )
        elif self.cost_words:
            costs = f"{self.cost_model}: {self.cost_words}"
        else:
            params = ", ".join(f"{k} = {v}" for k, v in sorted(self.cost_params.items()))
            costs = f"{self.cost_model}" + (f" ({params})" if params else "")
        return [
            f"**Source:** {source}.",
            f"**Universe:** {universe}.",
            *per_fold,
            f"**Execution:** {EXECUTION_WORDS[self.execution]}.",
            f"**Costs:** {costs}.",
        ]

    def scoring(self) -> dict[str, Any]:
        """How the record was scored, as a trial's configuration records it."""
        return {"execution": self.execution, "cost_model": self.cost_model, **dict(self.cost_params)}


def churn_words(records: Sequence[Mapping[str, Any]]) -> str:
    """``2024-01-02: 10; 2024-04-01: 10 (in: A, B; out: C, D)``: each fold's universe size and churn."""
    parts = []
    for r in records:
        entered, left = r.get("entered"), r.get("left")
        said = f"{r.get('fold', r.get('as_of'))}: {r['count']}"
        if entered is not None:
            said += f" (in: {', '.join(entered) or 'none'}; out: {', '.join(left or []) or 'none'})"
        parts.append(said)
    return "; ".join(parts) or "no fold yet"
