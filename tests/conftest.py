"""Shared fixtures: a real PostgreSQL per session, a fresh database and a real service (or cluster) per test."""
import psycopg2
import pytest

from chaos.controlled_postgres import ControlledPostgres, PostgresUnavailable
from tests.support.cluster import SHORT_LEASES, Cluster
from tests.support.database import Db, TestServer
from tests.support.logs import assert_no_tracebacks
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
def connect(database_url):
    """Plain connections to the test's database, for statements interleaved by hand (one transaction held
    open while another runs): connect(autocommit=False) for the one held open. Closed after the test."""
    opened = []

    def make(autocommit=True):
        conn = psycopg2.connect(database_url)
        conn.autocommit = autocommit
        opened.append(conn)
        return conn
    yield make
    for conn in opened:
        conn.close()


@pytest.fixture
def controlled_postgres():
    """A dedicated embedded PostgreSQL with a migrated database, to stop and start (even with DATABASE_URL
    set: stopping a shared server would harm other tests). For the fault tests and the chaos run."""
    try:
        server = ControlledPostgres()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.close()


@pytest.fixture(scope="module")
def api_database(pg_server):
    name, url = pg_server.create_database()
    yield url
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def api(api_database, tmp_path_factory):
    """One service for a module's tests; after the last of them, it must have answered none with a 500."""
    service = ServiceProcess(api_database, tmp_path_factory.mktemp("api") / "service.log")
    try:
        yield service.start()
    finally:
        service.close()
    unhandled = [line for line in service.log().splitlines() if "unhandled" in line]
    assert not unhandled, "a request to the shared service was answered with an internal error:\n" + "\n".join(
        unhandled)


@pytest.fixture
def db(database_url):
    return Db(database_url)


@pytest.fixture
def make_service_on(tmp_path):
    """Start services on a given database: make_service_on(url, workers=1, env={...}); stopped after the test."""
    started = []

    def make(url, workers=1, env=None, start=True):
        service = ServiceProcess(url, tmp_path / f"service-{len(started)}.log", workers=workers, env=env)
        started.append(service)
        return service.start() if start else service

    yield make
    for service in started:
        service.close()


@pytest.fixture
def make_service(database_url, make_service_on):
    """Start services on the test's database: make_service(workers=1, env={...})."""
    def make(workers=1, env=None, start=True):
        return make_service_on(database_url, workers=workers, env=env, start=start)
    return make


@pytest.fixture
def service(make_service):
    return make_service()


@pytest.fixture
def make_cluster(database_url, tmp_path):
    """make_cluster(instances=2, workers=2, env={...}): real instances behind nginx with short leases,
    on the test's database; stopped after the test."""
    clusters = []

    def make(instances=2, workers=2, env=None):
        cluster = Cluster(database_url, tmp_path, env={**SHORT_LEASES, **(env or {})})
        clusters.append(cluster)
        return cluster.start(instances, workers)

    yield make
    for cluster in clusters:
        cluster.close()
    for cluster in clusters:
        assert_no_tracebacks(cluster.instances)
