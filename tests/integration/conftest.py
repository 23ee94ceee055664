"""Fixtures of the HTTP API tests (test_api_*.py).

Most of those tests share one service (and its database), started once per module (the api fixture,
in tests/conftest.py): they read, or touch rows nobody else uses. Tests that need a service of their
own (no database, a row left broken) start one.
"""
import uuid

import pytest

from tests.support.api import FINISHED_ROWS
from tests.support.database import Db, with_database
from tests.support.service import ServiceProcess, start_run, wait_for_run
from tests.support.wait import wait_until


@pytest.fixture(scope="module")
def api_db(api_database):
    return Db(api_database)


@pytest.fixture(scope="module")
def node_id(api):
    return api.json("/healthz")["node"]


@pytest.fixture(scope="module")
def finished_run(api):
    """A done run whose rows (value 0, no live server) the tests take one each."""
    run = start_run(api, rows=FINISHED_ROWS, start_value=1, tick_ms=50)
    return wait_for_run(api, run["id"], timeout=15)


@pytest.fixture(scope="module")
def spare_rows(finished_run):
    return iter(range(finished_run["first_row_id"], finished_run["last_row_id"]))  # the last one is untouched_row


@pytest.fixture
def idle_row(spare_rows):
    """The id of a row of a finished run that no other test touches: no ticks, so values are exact."""
    return next(spare_rows)


@pytest.fixture(scope="module")
def untouched_row(finished_run):
    """A row the error tests send bad messages to: none may ever reach its inbox."""
    return finished_run["last_row_id"]


@pytest.fixture(scope="module")
def unready(pg_server, tmp_path_factory):
    """A service whose DATABASE_URL names a database that does not exist."""
    missing = with_database(pg_server.admin_url, f"greenrow_missing_{uuid.uuid4().hex[:12]}")
    service = ServiceProcess(missing, tmp_path_factory.mktemp("unready") / "service.log")
    try:
        service.start(wait_ready=False)
        wait_until(lambda: _answers(service), 30, message="the service without a database never answered")
        yield service
    finally:
        service.close()


def _answers(service):
    try:
        return service.get("/healthz", timeout=2).status_code == 200
    except OSError:
        return False
