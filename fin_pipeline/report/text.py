"""The report's sentences about selection: the trial a stitched record is, its deflated Sharpe ratio, and how
often the ridge baseline's penalty sat on the edge of its grid. No Dagster here."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from fin_pipeline.backtest.trials import TRIAL_BOOKS, Trial, TrialRegistry, describe, trial_configuration
from fin_pipeline.core.costs import CostModel
from fin_pipeline.core.formatting import format_value
from fin_pipeline.core.settings import DEFAULT_UNIVERSE
from fin_pipeline.core.universe_rule import UniverseRule
from fin_pipeline.evaluation.scoring import Scores, with_trials
from fin_pipeline.report.folds import FoldResult
from fin_pipeline.report.provenance import Provenance
from fin_pipeline.training.baselines import RIDGE_ALPHA_LIMITS


def provenance_for(
    sources: Sequence[str],
    universe: Sequence[str],
    execution: str,
    costs: CostModel,
    rule: UniverseRule | None = None,
    folds_universe: Sequence[Mapping[str, Any]] = (),
) -> Provenance:
    """The header of a report whose books trade at ``execution`` and pay ``costs`` (the same values the books were
    scored with, so that the header cannot claim more than the run did)."""
    params = dataclasses.asdict(costs)
    kind = params.pop("cost_model")
    if kind == "flat":
        params = {"cost_bps": params["cost_bps"]}
    else:
        params.pop("cost_bps")
    return Provenance(
        sources=list(sources),
        universe=list(universe),
        default_universe=DEFAULT_UNIVERSE,
        execution=execution,
        cost_model=kind,
        cost_params=params,
        cost_words=costs.describe(),
        rule=None if rule is None else str(rule),
        rule_words=None if rule is None else rule.describe(),
        folds_universe=list(folds_universe),
    )


def deflate(
    scores: Scores, horizon: int, registry: TrialRegistry | None, configuration: dict[str, Any] | None
) -> tuple[Scores, str]:
    """Record the stitched record's model books in ``registry`` as the trial ``configuration`` (replacing its
    earlier record), then give those books their DSR over every registered trial; the words "N trial(s): ...".
    Without a registry the record is its only trial (DSR = PSR)."""
    returns = {book: scores.books[book].returns for book in TRIAL_BOOKS}
    if registry is None:
        trials = [Trial("", {}, pd.DataFrame(returns))]
        text = "1 trial (no trial registry given: this record alone)"
    else:
        current = registry.record(configuration, returns)
        trials = registry.trials()
        text = describe(trials, current.key)
    return with_trials(scores, {b: [t.sharpe(b) for t in trials] for b in TRIAL_BOOKS}, horizon), text


def trial_configuration_of(folds: list[FoldResult], provenance: Provenance) -> dict[str, Any]:
    """The stitched record's trial configuration: its folds' training specifications and rules, how it is scored."""
    missing = [f.fold for f in folds if f.train_spec is None]
    if missing:
        raise ValueError(f"fold(s) {missing}: no training specification, so the trial cannot be registered")
    return trial_configuration([f.train_spec for f in folds], [f.bounds for f in folds], provenance.scoring())


def sharpe_line(scores: Scores, trials: str) -> str:
    """The model's Sharpe with its HAC interval, PSR and DSR over the registered trials, in words."""
    sign, neutral = scores.comparison["sharpe"], scores.comparison["sharpe_neutral"]
    return (
        f"**Sharpe, deflated by the trials.** The model's sign book: annualized Sharpe {format_value(sign['sharpe'])} "
        f"(95% CI {format_value(sign['sharpe_ci_low'])} … {format_value(sign['sharpe_ci_high'])}, HAC), PSR "
        f"{format_value(sign['psr'])}, DSR {format_value(sign['dsr'])}; neutral book: Sharpe "
        f"{format_value(neutral['sharpe'])}, PSR {format_value(neutral['psr'])}, DSR {format_value(neutral['dsr'])}. "
        f"DSR over {trials}."
    )


def ridge_line(folds: list[FoldResult]) -> str:
    """How often ridge's penalty sat on the edge of its initial grid (the grid was then extended)."""
    chosen = [f.baselines for f in folds if f.baselines and "ridge_edge_hits" in f.baselines]
    if not chosen:
        return ""
    hit = sum(1 for c in chosen if c["ridge_edge_hits"])
    capped = sum(1 for c in chosen if c["ridge_at_limit"])
    low, high = RIDGE_ALPHA_LIMITS
    return (
        f"Ridge's penalty sat on an edge of its initial grid in {hit} of {len(chosen)} fold(s) and was searched "
        f"further a decade at a time (ridge_edge_hits); it ended at a limit ({low:g} or {high:g}) in {capped}.\n\n"
    )
