"""The candidate pool of a point-in-time universe, resolved from the settings' variables (``core/settings.py`` calls
:func:`point_in_time` while it loads; a bad value is a ``ValueError`` naming the variable, which it re-raises as a
``SettingsError``).

The pool: the membership CSV's tickers (``FIN_PIPELINE_MEMBERSHIP_CSV``); else an explicit ``FIN_PIPELINE_UNIVERSE``
(ranked by the rule, listed as the source delivers them); else, for the synthetic market,
``FIN_PIPELINE_UNIVERSE_POOL`` (default 3 x N) simulated tickers with drawn listings and delistings
(:mod:`fin_pipeline.core.listings`), those seasoned by the data's end. Another source needs one of the first two.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from fin_pipeline.core.listings import POOL_FACTOR, pool_names, read_membership_csv, seasoned, synthetic_listings
from fin_pipeline.core.universe_rule import parse_rule


def point_in_time(
    *,
    rule: str,
    membership_csv: str,
    pool: str,
    explicit: bool,
    source: str,
    seed: int,
    start: dt.date,
    end: dt.date,
    check_ticker: Callable[[str], str],
) -> dict[str, object]:
    """The Settings fields a rule sets (``universe_rule``, ``universe`` = the pool, ``listings``, ...); ``{}`` without
    a rule. The arguments are the variables' raw texts (empty: unset) and the settings already read."""
    if not rule:
        if membership_csv or pool:
            raise ValueError(
                "FIN_PIPELINE_MEMBERSHIP_CSV and FIN_PIPELINE_UNIVERSE_POOL need FIN_PIPELINE_UNIVERSE_RULE "
                "(e.g. top:500:dollar_volume)"
            )
        return {}
    parsed = parse_rule(rule)
    out: dict[str, object] = {"universe_rule": parsed}
    if membership_csv:
        try:
            listings = read_membership_csv(Path(membership_csv), check_ticker)
        except (ValueError, OSError) as exc:
            raise ValueError(f"FIN_PIPELINE_MEMBERSHIP_CSV: {exc}") from None
        out |= {"membership_csv": Path(membership_csv), "listings": tuple(listings)}
        out["universe"] = tuple(dict.fromkeys(x.ticker for x in listings))
        return out
    if explicit:  # an explicit list as the pool
        return out
    if source != "synthetic":
        raise ValueError(
            f"FIN_PIPELINE_UNIVERSE_RULE={rule!r} needs a candidate pool for the {source} source: set "
            "FIN_PIPELINE_MEMBERSHIP_CSV (Polygon's reference tickers write one: fin-pipeline listings) or "
            "FIN_PIPELINE_UNIVERSE"
        )
    if pool and not pool.lstrip("-").isdigit():
        raise ValueError(f"FIN_PIPELINE_UNIVERSE_POOL={pool!r} is not an integer")
    size = int(pool) if pool else POOL_FACTOR * parsed.n
    if size <= parsed.n:
        raise ValueError(
            f"FIN_PIPELINE_UNIVERSE_POOL={size} must be larger than the rule's N={parsed.n} (the pool is ranked)"
        )
    listings = seasoned(synthetic_listings(seed, pool_names(size), start), end)
    out |= {"universe_pool": size, "listings": tuple(listings), "universe": tuple(x.ticker for x in listings)}
    return out
