"""Fixtures of the fault tests: a PostgreSQL server of the test's own, to stop and start."""
import pytest

from chaos.controlled_postgres import ControlledPostgres, PostgresUnavailable
from tests.support.database import Db


@pytest.fixture
def controlled_postgres():
    """A dedicated embedded PostgreSQL with a migrated database (even with DATABASE_URL set: stopping a
    shared server would harm other tests)."""
    try:
        server = ControlledPostgres()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.close()


@pytest.fixture
def controlled_db(controlled_postgres):
    return Db(controlled_postgres.url)
