"""What every tear sheet shares: how a sheet says it cannot be drawn, off-screen drawing, and the libraries kept
quiet. alphalens, quantstats and seaborn are imported when a sheet is drawn, not with these modules (they cost
seconds that a Dagster code location load should not pay).
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from collections.abc import Iterator

log = logging.getLogger(__name__)


class SkipSheet(Exception):
    """A sheet that this input cannot give (too few days or tickers, a flat book): the message says why."""


def use_agg() -> None:
    """Draw off-screen. A pipeline process has no display (and a GUI backend fails in a worker thread); a session
    that already imported pyplot, a notebook drawing inline, keeps its backend."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")


@contextlib.contextmanager
def quiet(library: str) -> Iterator[None]:
    """The libraries' own chatter, kept out of the pipeline's output: alphalens prints how many rows it dropped
    (we count them ourselves), quantstats and seaborn warn about pandas and matplotlib deprecations inside
    themselves, and matplotlib logs every missing font of quantstats' style. Logged at DEBUG, not lost."""
    fonts = logging.getLogger("matplotlib.font_manager")
    level = fonts.level
    fonts.setLevel(logging.ERROR)
    out = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out):
            warnings.simplefilter("always")
            yield
    finally:
        fonts.setLevel(level)
    if out.getvalue().strip():
        log.debug("%s printed: %s", library, out.getvalue().strip())
    if caught:
        log.debug("%s: %d warning(s) silenced, first: %s", library, len(caught), caught[0].message)
