"""The README's picture of the UI: ``walk_forward_report`` in the Dagster UI with its equity curve open.

    .venv/bin/python scripts/ui_screenshot.py --home DIR [--out docs/ui-report.png]

``DIR`` is a project home that ``fin-pipeline run`` has materialized (its ``dagster.yaml`` and ``data/``; default
``$DAGSTER_HOME``). Run it with the same ``FIN_PIPELINE_*`` variables as the run that materialized the home (they
decide the code location's partitions); the data directory defaults to ``DIR/data``. It starts ``dagster dev`` on a
free port against that home, opens the report in Debian's Chromium (``scripts/browser.sh``), clicks the equity
curve's ``[Show Markdown]`` and saves the page, then stops the server. The page code is shared with the browser
test (``fin_pipeline_tests/ui/pages.py``). The picture in ``docs/`` was made from a home built with

    FIN_PIPELINE_SIGNAL_IC=0.2 FIN_PIPELINE_FIRST_TEST_DATE=2025-01-01 fin-pipeline run --model cnn --epochs 3

(the default 8 tickers, 8 quarterly folds, the planted signal of the README's quick start).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from fin_pipeline_tests.ui import pages  # noqa: E402
from fin_pipeline_tests.ui.server import dagster_dev  # noqa: E402

MAX_BYTES = 400_000  # a README picture: a few hundred KB at most


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=os.environ.get("DAGSTER_HOME"), help="a materialized home")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "ui-report.png", help="the PNG to write")
    parser.add_argument("--width", type=int, default=pages.VIEWPORT["width"])
    parser.add_argument("--height", type=int, default=pages.VIEWPORT["height"])
    args = parser.parse_args(argv)
    if args.home is None:
        parser.error("--home (or DAGSTER_HOME) is needed")
    home = args.home.resolve()
    if not (home / "dagster.yaml").is_file():
        parser.error(f"{home} has no dagster.yaml: not a project home")
    workspace = home / "workspace.yaml"
    workspace = workspace if workspace.is_file() else REPO_ROOT / "workspace.yaml"
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.setdefault("FIN_PIPELINE_DATA_DIR", str(home / "data"))

    log = Path(tempfile.mkstemp(prefix="ui_screenshot_", suffix=".log")[1])
    with dagster_dev(home, env, log, workspace=workspace) as url, sync_playwright() as playwright:
        print(f"dagster dev on {url} (log {log})")
        browser = pages.launch(playwright)
        try:
            page = pages.new_page(browser)
            page.set_viewport_size({"width": args.width, "height": args.height})
            img = pages.report_picture(page, url)
            width, height = pages.image_size(img)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out)
        finally:
            browser.close()
    log.unlink()
    size = shrink(args.out)
    print(f"{args.out}: {size} bytes ({args.width}x{args.height}; the equity curve {width}x{height})")
    return 0


def shrink(path: Path) -> int:
    """Store the PNG with a 256-colour palette when it is over ``MAX_BYTES`` (the UI is flat colours; the size)."""
    if path.stat().st_size > MAX_BYTES:
        from PIL import Image

        with Image.open(path) as image:
            image.convert("RGB").quantize(colors=256).save(path, optimize=True)
    return path.stat().st_size


if __name__ == "__main__":
    sys.exit(main())
