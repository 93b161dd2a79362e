"""A point-in-time universe rule (``FIN_PIPELINE_UNIVERSE_RULE``): which of the candidate pool's stocks a fold
trains and tests on.

``top:N:FIELD`` keeps, as of a day D, the N candidates with the highest median of ``FIELD`` over the
:data:`LOOKBACK_SESSIONS` sessions before D, from data before D only, the later-delisted included (the ranking
itself lives in :mod:`fin_pipeline.features.universe`). Fields (:data:`RULE_FIELDS`):

* ``dollar_volume``: ``close * volume`` of the day (what a book can trade without moving the price much);
* ``volume``: shares traded.

A malformed rule or an unknown field is refused when the settings load, naming the variable.
"""

from __future__ import annotations

import dataclasses

SETTING = "FIN_PIPELINE_UNIVERSE_RULE"
LOOKBACK_SESSIONS = 63  # a quarter of sessions: the median looks through one earnings season's spikes
RULE_FIELDS = {
    "dollar_volume": "close x volume",
    "volume": "shares traded",
}
MIN_RULE_SIZE = 2  # a fold's cross-section needs two stocks at least (the books rank within a day)


@dataclasses.dataclass(frozen=True)
class UniverseRule:
    """``top:n:field``: the ``n`` candidates with the highest median ``field`` over the lookback."""

    n: int
    field: str = "dollar_volume"
    lookback: int = LOOKBACK_SESSIONS

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < MIN_RULE_SIZE:
            raise ValueError(f"{SETTING}: N must be an integer >= {MIN_RULE_SIZE}, got {self.n!r}")
        if self.field not in RULE_FIELDS:
            raise ValueError(f"{SETTING}: unknown field {self.field!r} (known: {', '.join(RULE_FIELDS)})")
        if isinstance(self.lookback, bool) or not isinstance(self.lookback, int) or self.lookback < 1:
            raise ValueError(f"{SETTING}: the lookback must be an integer >= 1, got {self.lookback!r}")

    def __str__(self) -> str:
        return f"top:{self.n}:{self.field}"

    def describe(self) -> str:
        """The rule in words, for the report's first lines."""
        return (
            f"the {self.n} stocks with the highest median {self.field.replace('_', ' ')} "
            f"({RULE_FIELDS[self.field]}) over the {self.lookback} sessions before each fold's test start, "
            "from data before that day only, later-delisted stocks included"
        )


def parse_rule(text: str, setting: str = SETTING) -> UniverseRule:
    """``'top:500:dollar_volume'`` -> :class:`UniverseRule`; ``ValueError`` naming ``setting`` otherwise."""
    parts = [p.strip() for p in str(text).strip().split(":")]
    shape = "top:N:FIELD, e.g. top:500:dollar_volume"
    if len(parts) != 3 or parts[0].lower() != "top":
        raise ValueError(f"{setting}={text!r} is not {shape}")
    if not parts[1].isdigit():
        raise ValueError(f"{setting}={text!r}: N={parts[1]!r} is not a positive integer ({shape})")
    field = parts[2].lower()
    if field not in RULE_FIELDS:
        raise ValueError(f"{setting}={text!r}: unknown field {parts[2]!r} (known: {', '.join(RULE_FIELDS)})")
    try:
        return UniverseRule(int(parts[1]), field)
    except ValueError as exc:
        raise ValueError(f"{setting}={text!r}: {str(exc).removeprefix(SETTING + ': ')}") from None
