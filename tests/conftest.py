"""Shared fixtures: a real PostgreSQL per session, a fresh database and a real service per test."""
import pytest

from tests.support.database import Db, TestServer
from tests.support.service import ServiceProcess


@pytest.fixture(scope="session")
def pg_server():
    server = TestServer()
    yield server
    server.close()


@pytest.fixture
def database_url(pg_server):
    name, url = pg_server.create_database()
    yield url
    pg_server.drop_database(name)


@pytest.fixture
def db(database_url):
    return Db(database_url)


@pytest.fixture
def make_service(database_url, tmp_path):
    """Start services on the test's database: make_service(workers=1, env={...})."""
    started = []

    def make(workers=1, env=None, start=True):
        service = ServiceProcess(database_url, tmp_path / f"service-{len(started)}.log", workers=workers, env=env)
        started.append(service)
        return service.start() if start else service

    yield make
    for service in started:
        service.close()


@pytest.fixture
def service(make_service):
    return make_service()
