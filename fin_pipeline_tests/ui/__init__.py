"""The Dagster UI in a real browser (Debian's Chromium driven by Playwright): see ``test_browser.py``."""

import os
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (scripts/browser.sh); Playwright's own builds are not used
REQUIRE_BROWSER = "FIN_PIPELINE_REQUIRE_BROWSER"


def browser_required() -> bool:
    """``FIN_PIPELINE_REQUIRE_BROWSER=1`` (CI): a missing browser fails the tests instead of skipping them."""
    return os.environ.get(REQUIRE_BROWSER) == "1"
