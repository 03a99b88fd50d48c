"""PostgreSQL engines ping a pooled connection only after it sat idle (``shared.db``): a stale
idle connection is replaced before use, and a connection in steady use costs no ping. Runs on
PostgreSQL (ZHICHENG_TEST_POSTGRES=1, as in CI's second pass); SQLite has no server to lose."""
import os
import time

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import shared.db
from shared.db import make_engine

pytestmark = pytest.mark.skipif(os.environ.get("ZHICHENG_TEST_POSTGRES") != "1",
                                reason="PostgreSQL only (ZHICHENG_TEST_POSTGRES=1)")
PG_ADMIN_URL = os.environ.get("ZHICHENG_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def terminate(pid: int) -> None:
    """What a database restart or a dropped connection does to a pooled connection."""
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert cur.fetchone()[0] is True
    admin.close()
    time.sleep(0.1)


@pytest.fixture
def engine(databases, monkeypatch):
    monkeypatch.setattr(shared.db, "PING_AFTER_IDLE_SECONDS", 0.3)
    engine = make_engine(databases.url("ping"))
    yield engine
    engine.dispose()


def test_a_stale_connection_idle_past_the_threshold_is_replaced_before_use(engine):
    first = backend_pid(engine)
    terminate(first)
    time.sleep(0.4)  # idle past the threshold: the checkout pings, finds it dead, reconnects
    assert backend_pid(engine) != first


def test_a_connection_back_in_use_at_once_is_not_pinged(engine):
    first = backend_pid(engine)
    terminate(first)
    # used again within the threshold: no ping, so the dead connection reaches the statement,
    # which fails (the cost a busy service no longer pays is that round trip) ...
    with pytest.raises(OperationalError):
        backend_pid(engine)
    # ... and SQLAlchemy's disconnect handling drops the pool: the next use reconnects
    assert backend_pid(engine) != first


def test_a_live_idle_connection_is_kept(engine):
    first = backend_pid(engine)
    time.sleep(0.4)
    assert backend_pid(engine) == first
