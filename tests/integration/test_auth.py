"""With GREENROW_API_TOKEN set, every endpoint but the probes needs one of its bearer tokens (several, for
rotation); GET /metrics also takes a GREENROW_METRICS_TOKEN, which opens nothing else."""
import pytest

from tests.support.api import error_code
from tests.support.service import ServiceProcess

ADMIN, ROTATED, SCRAPER = "admin-token-0123456789", "rotated-token-0123456789", "scraper-token-0123456789"
TOKENS = {"GREENROW_API_TOKEN": f"{ADMIN},{ROTATED}", "GREENROW_METRICS_TOKEN": SCRAPER}


@pytest.fixture(scope="module")
def secured(pg_server, tmp_path_factory):
    name, url = pg_server.create_database()
    service = ServiceProcess(url, tmp_path_factory.mktemp("auth") / "service.log", env=TOKENS)
    try:
        yield service.start()
    finally:
        service.close()
        pg_server.drop_database(name)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_the_probes_stay_open(secured):
    assert secured.get("/healthz").status_code == 200
    assert secured.get("/readyz").status_code == 200


@pytest.mark.parametrize("path", ["/runs", "/nodes", "/metrics", "/openapi.json", "/rows/1"])
def test_without_a_token_a_request_gets_401_with_a_bearer_challenge(secured, path):
    response = secured.get(path)

    assert error_code(response, 401) == "unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="greenrow"'


@pytest.mark.parametrize("header", ["Bearer not-a-token-of-ours-0000", "Basic YWRtaW46c2VjcmV0", "Bearer ", ADMIN])
def test_a_wrong_token_or_scheme_gets_401(secured, header):
    response = secured.get("/runs", headers={"Authorization": header})

    assert error_code(response, 401) == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="greenrow"')


def test_every_api_token_opens_everything_so_one_can_be_rotated_without_downtime(secured):
    for token in (ADMIN, ROTATED):
        created = secured.post("/runs", json={"rows": 2, "tick_ms": 50}, headers=bearer(token))
        assert created.status_code == 201, created.text
        assert secured.get(f"/runs/{created.json()['id']}", headers=bearer(token)).status_code == 200
        assert secured.get("/metrics", headers=bearer(token)).status_code == 200


def test_the_metrics_token_opens_the_metrics_and_nothing_else(secured):
    assert secured.get("/metrics", headers=bearer(SCRAPER)).status_code == 200
    assert error_code(secured.get("/runs", headers=bearer(SCRAPER)), 401) == "unauthorized"
    assert error_code(secured.post("/runs", json={"rows": 1}, headers=bearer(SCRAPER)), 401) == "unauthorized"


def test_a_401_comes_before_any_validation_or_database_work(secured):
    response = secured.post("/runs", json={"rows": "many"})  # invalid, but the caller is not let in at all
    assert error_code(response, 401) == "unauthorized"
