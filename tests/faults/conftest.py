"""Fixtures of the fault tests: a database on a PostgreSQL server of the test's own (controlled_postgres,
in tests/conftest.py), to stop and start."""
import pytest

from chaos.controlled_postgres import ControlledPostgres, PostgresUnavailable
from tests.support.database import Db


@pytest.fixture
def controlled_db(controlled_postgres):
    return Db(controlled_postgres.url)


@pytest.fixture
def controlled_postgres_over_tcp():
    """Like controlled_postgres, but the service reaches it over TCP on 127.0.0.1 (a network to drop)."""
    try:
        server = ControlledPostgres(tcp=True)
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.close()
