"""Fixtures of the fault tests: a database on a PostgreSQL server of the test's own (controlled_postgres,
in tests/conftest.py), to stop and start."""
import pytest

from tests.support.database import Db


@pytest.fixture
def controlled_db(controlled_postgres):
    return Db(controlled_postgres.url)
