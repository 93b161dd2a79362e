"""Real services on 127.0.0.1 (PostgreSQL, RabbitMQ, Redis), each test run in a fresh database and vhost.

`.ci/run` starts any service that is down; a test here is skipped only when its service cannot be reached,
and says which.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("FIN_PIPELINE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SERVICES = {"PostgreSQL": 5432, "RabbitMQ": 5672, "Redis": 6379}


def require(*names: str) -> None:
    for name in names:
        try:
            socket.create_connection(("127.0.0.1", SERVICES[name]), timeout=2).close()
        except OSError as exc:
            pytest.skip(f"{name} is not running on 127.0.0.1:{SERVICES[name]} ({exc}); .ci/run starts it")


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    require("PostgreSQL")
    import psycopg2

    name = f"fin_pipeline_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def pg_home(pg_url, tmp_path_factory):
    """A DAGSTER_HOME holding the documented deploy/postgres/dagster.yaml, its file paths moved to a temp dir."""
    home = tmp_path_factory.mktemp("pg_home")
    text = (REPO_ROOT / "deploy" / "postgres" / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text(text.replace("base_dir: data/dagster", f"base_dir: {home}/dagster"))
    old = os.environ.get("DAGSTER_PG_URL")
    os.environ["DAGSTER_PG_URL"] = pg_url
    yield home
    if old is None:
        os.environ.pop("DAGSTER_PG_URL", None)
    else:
        os.environ["DAGSTER_PG_URL"] = old


@pytest.fixture(scope="session")
def broker_url():
    """A fresh RabbitMQ vhost (isolated from other users of the broker), deleted at the end."""
    require("RabbitMQ", "Redis")
    vhost = f"fin_pipeline_test_{uuid.uuid4().hex[:10]}"
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        yield "pyamqp://guest:guest@127.0.0.1:5672//"
        return
    subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run([ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, capture_output=True)
    yield f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}"
    subprocess.run([ctl, "delete_vhost", vhost], capture_output=True)
