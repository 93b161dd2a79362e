"""The science is a library a notebook can use: it never imports dagster (the assets are the only bridge)."""

import subprocess
import sys

LIBRARY = [
    "sources",
    "features",
    "models",
    "training",
    "backtest",
    "storage",
    "objectstore",
    "settings",
    "reporting",
    "scoring",
    "report",
    "report_tables",
    "nightly",
]


def test_library_modules_do_not_import_dagster():
    code = (
        "import sys, importlib, pkgutil, fin_pipeline\n"
        f"for name in {LIBRARY!r}:\n"
        "    module = importlib.import_module(f'fin_pipeline.{name}')\n"
        "    for info in pkgutil.walk_packages(getattr(module, '__path__', []), module.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print(sorted(m for m in sys.modules if m == 'dagster' or m.startswith('dagster.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
