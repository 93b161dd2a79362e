"""The Dagster UI in a real browser: Debian's Chromium, driven by Playwright, against ``dagster dev``; no mocks.

One module-scoped home is materialized the cheapest honest way, ``fin-pipeline run`` on the tiny universe (two
synthetic tickers, two half-year folds, one CNN epoch: every asset, ``walk_forward_report`` and
``forecasts[<date>]`` included; about 20 s on one core), then ``dagster dev`` (webserver + daemon) serves it. The
tests open the asset graph (every asset drawn, and drawn as materialized), the report's equity-curve picture
(decoded, visible, the PNG the report wrote) and the forecast table (the stored forecast's tickers and ranks) the
way a user does, and save a screenshot of each under their ``tmp_path``. Routes and selectors are explained in
``pages.py``; ``scripts/ui_screenshot.py`` uses the same pages for the README's picture.

Without ``/usr/bin/chromium`` (``scripts/browser.sh`` installs it) the module is skipped, unless
``FIN_PIPELINE_REQUIRE_BROWSER=1`` (CI) makes a missing browser an error.
"""

from __future__ import annotations

import base64
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fin_pipeline.core.choices import BOARD_MODELS
from fin_pipeline.evaluation.board import enabled_models
from fin_pipeline.store.parquet import read_parquet
from fin_pipeline_tests.subprocess_runs import REPO_ROOT, TINY, env_for, make_home, run
from fin_pipeline_tests.ui import CHROMIUM, browser_required

REQUIRED = browser_required()  # CI: a missing browser is an error
if not CHROMIUM.is_file():
    if REQUIRED:
        pytest.fail(f"FIN_PIPELINE_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (scripts/browser.sh installs it)")
    pytest.skip(f"{CHROMIUM} is not installed (scripts/browser.sh installs it)", allow_module_level=True)
if not REQUIRED:
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from fin_pipeline_tests.ui import pages  # noqa: E402
from fin_pipeline_tests.ui.server import dagster_dev  # noqa: E402

TICKERS = TINY["FIN_PIPELINE_UNIVERSE"].split(",")
GROUPS = ["board", "data", "features", "live", "walk_forward"]
ASSETS = [
    "board_predictions",
    "feature_windows",
    "fold_metrics",
    "forecasts",
    "leaderboard",
    "live_model",
    "live_record",
    "normalization_stats",
    "raw_candles",
    "trained_model",
    "walk_forward_folds",
    "walk_forward_report",
]
UNPARTITIONED = {"walk_forward_report", "live_record", "leaderboard"}
RUN_ARGS = ["--model", "cnn", "--epochs", "1", "--batch-size", "64"]
RUN_TIMEOUT_S = 300  # measured 17-25 s on the shared 2-core machine


@dataclass
class Ui:
    home: Path
    url: str
    log: Path


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> Iterator[Ui]:
    """A tiny home with every asset materialized, served by ``dagster dev`` (stopped at the end)."""
    home = make_home(tmp_path_factory.mktemp("ui") / "home")
    shutil.copy(REPO_ROOT / "workspace.yaml", home / "workspace.yaml")
    done = run(home, RUN_ARGS, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, f"fin-pipeline run failed ({done.returncode})\n{done.stdout[-4000:]}{done.stderr}"
    log = home / "dagster_dev.log"
    with dagster_dev(home, env_for(home), log) as url:
        yield Ui(home, url, log)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = pages.launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, tmp_path) -> Iterator[Page]:
    """A fresh page; what it showed last is saved as ``last.png`` (on a failure: where it stopped)."""
    page = pages.new_page(browser)
    yield page
    page.screenshot(path=tmp_path / "last.png")
    page.context.close()


@pytest.mark.timeout(600)
def test_the_asset_graph_draws_every_asset(ui, page, tmp_path):
    drawn = pages.asset_graph(page, ui.url, GROUPS, expected=len(ASSETS))
    if drawn != ASSETS:
        page.screenshot(path=tmp_path / "asset_graph.png")
        pytest.fail(f"asset nodes drawn: {drawn}, expected {ASSETS}; screenshot {tmp_path / 'asset_graph.png'}")
    # Each node says its asset is materialized: every partition (the partitioned ones), or when (the others); the
    # board's model x fold partitions of the enabled models only (the default: the run's network and 3 baselines).
    board = f"{math.floor(100 * len(enabled_models(None, 'cnn')) / len(BOARD_MODELS))}% filled"
    for name in ASSETS:
        state = "Materialized" if name in UNPARTITIONED else board if name == "board_predictions" else "100% filled"
        expect(pages.asset_node(page, name)).to_contain_text(state, timeout=pages.TIMEOUT_MS)
    page.screenshot(path=tmp_path / "asset_graph.png")


@pytest.mark.timeout(600)
def test_the_report_shows_its_equity_curve(ui, page, tmp_path):
    img = pages.report_picture(page, ui.url)
    page.screenshot(path=tmp_path / "walk_forward_report.png")
    width, height = pages.image_size(img)
    assert width > 0 and height > 0, (width, height)
    box = img.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100, box  # drawn at a size one can see, not a dot
    # The picture the UI shows is the one the report wrote.
    src = img.get_attribute("src")
    png = (ui.home / "data" / "reports" / "equity_curve.png").read_bytes()
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1]) == png


@pytest.mark.timeout(600)
def test_the_forecast_table_lists_the_universe(ui, page, tmp_path):
    (path,) = (ui.home / "data" / "forecasts").glob("*.parquet")  # forecasts[<date>], the one night of the run
    stored, _ = read_parquet(path)
    pages.open_asset(page, ui.url, "forecasts")
    date = pages.metadata_row(page, "forecast_date").locator("xpath=./td[last()]")
    expect(date).to_have_text(path.stem, timeout=pages.TIMEOUT_MS)
    table = pages.rendered_markdown(page, "forecast").locator("table")
    expect(table).to_be_visible(timeout=pages.TIMEOUT_MS)
    table.scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "forecasts.png")
    rows = pages.read_table(table)
    assert sorted(r["ticker"] for r in rows) == sorted(TICKERS), rows
    # The rows the UI shows are the stored forecast's: its ranks, its predictions to the digits shown.
    shown = {r["ticker"]: (int(r["rank"]), float(r["model"])) for r in rows}
    for ticker, rank, model in stored[["ticker", "rank", "model"]].itertuples(index=False):
        assert shown[ticker][0] == rank, (ticker, shown[ticker], rank)
        assert shown[ticker][1] == pytest.approx(model, rel=1e-3), (ticker, shown[ticker], model)
