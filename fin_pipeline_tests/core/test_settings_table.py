"""Every environment variable the package reads is in the README's settings table, with a default.

The names are found in the source itself (every ``FIN_PIPELINE_*`` string, and every upper-case name passed to an
environment read), so a setting added to the code and not to the table fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import fin_pipeline

PACKAGE = Path(fin_pipeline.__file__).parent
README = PACKAGE.parent / "README.md"
FIN_NAME = re.compile(r"^FIN_PIPELINE_[A-Z0-9_]+$")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")
# Calls that take an environment variable's name, and its position: os.environ.get / env.get / get (any .get whose
# argument is an upper-case NAME_LIKE_THIS), os.getenv, Dagster's EnvVar and the settings' readers _get(env, NAME)
# and _parse(env, NAME, ...).
READERS = {"getenv": 0, "EnvVar": 0, "_get": 1, "_parse": 1}


def names_read(source: str) -> set[str]:
    """The environment variables a module's source reads."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and FIN_NAME.match(node.value):
            names.add(node.value)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            position = 0 if name == "get" else READERS.get(name)  # any .get(NAME): environ, env mappings
            if position is not None and len(node.args) > position:
                arg = node.args[position]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and ENV_NAME.match(arg.value):
                    names.add(arg.value)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)  # os.environ["X"] = ... writes it
            and _is_environ(node.value)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            names.add(node.slice.value)
    return names


def _is_environ(node: ast.AST | None) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id in ("environ", "env")
    )


def package_names() -> dict[str, list[str]]:
    """Every variable the package reads, with the modules that read it."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in names_read(path.read_text()):
            found.setdefault(name, []).append(path.relative_to(PACKAGE.parent).as_posix())
    return found


def settings_table() -> dict[str, str]:
    """The README's settings table: each variable named in a row's first cell, and that row's default."""
    section = README.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3:
            for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
                rows[name] = cells[1]
    return rows


def test_the_reader_finds_each_way_the_package_reads_a_variable():
    source = """
import os
from dagster import EnvVar
a = os.environ.get("FIN_PIPELINE_NEW_A", "1")
b = os.environ["AWS_SOMETHING"]
c = os.getenv("OTHER_VAR")
d = _get(env, "POLYGON_LIKE_KEY")
e = EnvVar("SECRET_KEY")
NAME = "FIN_PIPELINE_NEW_B"
os.environ["OMP_NUM_THREADS"] = "1"       # written, not read
tags.get("dagster/partition")             # not a variable's name
"""
    assert names_read(source) == {
        "FIN_PIPELINE_NEW_A",
        "AWS_SOMETHING",
        "OTHER_VAR",
        "POLYGON_LIKE_KEY",
        "SECRET_KEY",
        "FIN_PIPELINE_NEW_B",
    }


def test_every_variable_the_package_reads_is_in_the_settings_table_with_its_default():
    found = package_names()
    # The ones this deployment's users reported missing are among those found (the scan is not empty or blind).
    for name in (
        "FIN_PIPELINE_EXECUTOR",
        "FIN_PIPELINE_CELERY_BROKER",
        "FIN_PIPELINE_CELERY_BACKEND",
        "FIN_PIPELINE_S3_ENDPOINT",
        "FIN_PIPELINE_CACHE_DIR",
        "FIN_PIPELINE_LEASE_TTL",
        "FIN_PIPELINE_TORCH_THREADS",
        "DAGSTER_PG_URL",
        "POLYGON_API_KEY",
    ):
        assert name in found, name
    table = settings_table()
    missing = {name: where for name, where in found.items() if name not in table}
    assert not missing, f"read by the package but not in README's settings table: {missing}"
    assert all(table[name] for name in found), {name: table[name] for name in found if not table[name]}


def test_the_table_lists_no_variable_the_package_does_not_read():
    unread = set(settings_table()) - set(package_names())
    assert not unread, f"in README's settings table but read nowhere in the package: {sorted(unread)}"
