"""The Dagster instance of ``DAGSTER_HOME``, checked before use: a PostgreSQL instance must be reachable.

The default instance (``dagster.yaml`` in the repository root) keeps everything in sqlite files under
``data/dagster/``. ``deploy/postgres/dagster.yaml`` keeps runs, event logs, schedules and pools in PostgreSQL
(``dagster-postgres``), its URL read from ``DAGSTER_PG_URL``. Dagster itself retries an unreachable database
for a while and then fails without saying which one; :func:`check_instance` connects once, with a timeout, and
fails with the URL (password masked).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

from fin_pipeline.runtime.services import ServiceUnreachable, mask_url


def postgres_url(config: dict[str, Any]) -> str | None:
    """The PostgreSQL URL an instance config (parsed ``dagster.yaml``) stores runs in; None for sqlite."""
    storage = config.get("storage") or {}
    pg = storage.get("postgres") or (config.get("run_storage") or {}).get("config") or {}
    if not pg or ("postgres_url" not in pg and "postgres_db" not in pg):
        return None
    if "postgres_url" in pg:
        return _value(pg["postgres_url"])
    db = {k: _value(v) for k, v in pg["postgres_db"].items()}
    auth = quote(str(db.get("username", "")), safe="")
    if db.get("password"):
        auth += ":" + quote(str(db["password"]), safe="")
    return f"postgresql://{auth}@{db['hostname']}:{db.get('port', 5432)}/{db['db_name']}"


def _value(v: Any) -> str:
    if isinstance(v, dict) and "env" in v:
        name = v["env"]
        if not os.environ.get(name):
            raise ServiceUnreachable(f"the instance's PostgreSQL URL comes from ${name}, which is not set")
        return os.environ[name]
    return str(v)


def check_postgres(url: str, timeout: int = 5) -> None:
    """Connect once; :class:`ServiceUnreachable` naming the masked URL if the database cannot be reached."""
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=timeout).close()
    except psycopg2.Error as exc:
        reason = " ".join(str(exc).split())
        password = urlsplit(url).password
        if password:
            reason = reason.replace(password, "***")
        raise ServiceUnreachable(f"PostgreSQL instance storage {mask_url(url)} is unreachable: {reason}") from None


def check_instance(home: str | Path | None = None) -> None:
    """Check the instance of ``home`` (default ``$DAGSTER_HOME``): a PostgreSQL one must accept a connection."""
    home = Path(home or os.environ.get("DAGSTER_HOME", "."))
    path = home / "dagster.yaml"
    config = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    url = postgres_url(config)
    if url is not None:
        check_postgres(url)
