"""Navigating the Dagster 1.13 UI with Playwright (sync API): what the browser test and the README screenshot share.

Routes and selectors, and why they hold (checked against the UI that ``dagster-webserver`` 1.13 serves):

- ``/asset-groups`` is the global asset lineage. With several groups it draws each group collapsed; the UI's
  *Expand all groups* shortcut (⌥E, also in the graph's settings menu) draws every asset node. A node drawn at a
  readable zoom (scale >= 0.6) carries its full asset name in ``data-tooltip`` (the name itself may be shortened
  with a middle ellipsis); zoomed further out the nodes are "minimal" boxes with shortened names only, hence the
  wide viewport of :func:`asset_graph`. A full node's text says whether its asset is materialized (``100% filled``
  for a partitioned asset, ``Materialized`` and when for the others) once the live data has loaded.
- ``/assets/<key>`` is an asset's overview: the metadata of its latest materialization as a table, one ``<tr>``
  per entry, the key in the first cell. A markdown entry under 1000 characters is rendered in place; a longer one
  (an inlined PNG, a long table) is behind a ``[Show Markdown]`` link that opens a ``role="dialog"`` with the
  rendered markdown.
- The community sign-up dialog that the UI opens on a first visit to localhost is dismissed the way the UI
  remembers it: the ``communityNux`` key in the browser's local storage.
"""

from __future__ import annotations

import contextlib

from playwright.sync_api import Browser, Locator, Page, Playwright, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from fin_pipeline_tests.ui import CHROMIUM

CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # No update checks, component downloads or sync: the machines here have no outside network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
GRAPH_VIEWPORT = {"width": 2600, "height": 1400}  # wide enough that the 10-asset graph fits at a readable zoom
TIMEOUT_MS = 60_000  # any one wait: a page, a node, a dialog (the UI answers in seconds on 2 idle cores)
DISMISS_COMMUNITY_DIALOG = "window.localStorage.setItem('communityNux', JSON.stringify('1'))"


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def new_page(browser: Browser, viewport: dict[str, int] = VIEWPORT) -> Page:
    """A page in a fresh context (its own local storage), without the first-visit dialog."""
    context = browser.new_context(viewport=viewport)
    context.add_init_script(DISMISS_COMMUNITY_DIALOG)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context.new_page()


def asset_graph(page: Page, url: str, groups: list[str], expected: int) -> list[str]:
    """Open the global asset lineage and expand every group; the names of the asset nodes drawn, once ``expected``
    of them are (or the wait ends: the caller compares the names)."""
    page.set_viewport_size(GRAPH_VIEWPORT)
    page.goto(f"{url}/asset-groups")
    named = "svg foreignObject [data-tooltip]"  # the group boxes, then (expanded) the asset nodes
    for group in groups:
        expect(page.locator(f'{named}[data-tooltip="{group}"]')).to_be_visible(timeout=TIMEOUT_MS)
    page.keyboard.press("Alt+KeyE")  # the UI's "Expand all groups"
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length >= n", arg=[named, len(groups) + expected]
        )
    names = page.locator(named).evaluate_all("els => els.map(e => e.dataset.tooltip)")
    return sorted(set(names) - set(groups))


def asset_node(page: Page, name: str) -> Locator:
    """The drawn node of asset ``name`` in the asset graph (its name, latest event, partitions, kind)."""
    return page.locator("svg foreignObject > div").filter(has=page.locator(f'[data-tooltip="{name}"]'))


def open_asset(page: Page, url: str, key: str) -> None:
    """Open an asset's overview (its metadata table loads after the page: :func:`metadata_row` waits for it)."""
    page.goto(f"{url}/assets/{key}")


def metadata_row(page: Page, key: str) -> Locator:
    """The metadata table's row of entry ``key`` (its first cell is exactly the key)."""
    first_cell = page.locator("xpath=./td[1]").get_by_text(key, exact=True)
    row = page.locator("tr").filter(has=first_cell)
    expect(row).to_have_count(1, timeout=TIMEOUT_MS)
    return row


def rendered_markdown(page: Page, key: str) -> Locator:
    """Where the UI renders markdown entry ``key``: its dialog when behind ``[Show Markdown]``, else its cell."""
    row = metadata_row(page, key)
    button = row.get_by_text("[Show Markdown]", exact=True)
    if button.count() == 0:
        return row.locator("xpath=./td[last()]")
    button.click()
    dialog = page.get_by_role("dialog").filter(has_text=key)
    expect(dialog).to_be_visible(timeout=TIMEOUT_MS)
    return dialog


def image_size(img: Locator) -> tuple[int, int]:
    """The picture's intrinsic size once the browser has decoded it (``decode()`` rejects a broken image)."""
    return tuple(img.evaluate("async i => { await i.decode(); return [i.naturalWidth, i.naturalHeight]; }"))


def read_table(table: Locator) -> list[dict[str, str]]:
    """A rendered HTML table as rows of ``{header: cell text}``."""
    # The table's own head and bodies (a CSS selector would also match the rows of a table around it).
    headers, rows = table.evaluate(
        """t => [
            Array.from(t.tHead.rows[0].cells, c => c.textContent.trim()),
            Array.from(t.tBodies).flatMap(b => Array.from(b.rows, r => Array.from(r.cells, c => c.textContent.trim()))),
        ]"""
    )
    return [dict(zip(headers, row, strict=True)) for row in rows]


def report_picture(page: Page, url: str, key: str = "equity", alt: str = "equity_curve") -> Locator:
    """Open ``walk_forward_report`` and its picture ``key`` (an inlined PNG); the displayed ``<img>``."""
    open_asset(page, url, "walk_forward_report")
    img = rendered_markdown(page, key).get_by_role("img", name=alt, exact=True)
    expect(img).to_be_visible(timeout=TIMEOUT_MS)
    return img
