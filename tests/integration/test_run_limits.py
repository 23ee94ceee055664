"""POST /runs keeps the running runs within the cluster's limits on unfinished rows and on ticks per
second: a run that could never fit gets 422 run_too_large, one that does not fit beside the running
runs 429 limit_reached (with Retry-After), each saying which limit and its value; exact even when
several nodes create runs at once."""
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support.api import error_code

LIMITS = {"GREENROW_MAX_UNFINISHED_ROWS": "1000", "GREENROW_MAX_TICK_RATE": "5000"}
HOUR_MS = 3_600_000
RACERS = 10


def create(service, **params):
    return service.post("/runs", json={"tick_ms": HOUR_MS, "max_concurrency": 10, **params})


def test_runs_beyond_the_cluster_limits_are_refused_saying_which_limit(make_service):
    service = make_service(workers=2, env=LIMITS)

    too_many_rows = create(service, rows=1001)
    assert error_code(too_many_rows, 422) == "run_too_large"
    assert "GREENROW_MAX_UNFINISHED_ROWS" in too_many_rows.json()["error"]["message"]
    assert "1,000" in too_many_rows.json()["error"]["message"]
    too_fast = create(service, rows=100, tick_ms=10, max_concurrency=100)  # 10,000 ticks/s at its peak
    assert error_code(too_fast, 422) == "run_too_large"
    assert "GREENROW_MAX_TICK_RATE" in too_fast.json()["error"]["message"]
    fits = create(service, rows=100, tick_ms=10, max_concurrency=50)  # 5,000 ticks/s: just fits
    assert fits.status_code == 201, fits.text
    assert service.post(f"/runs/{fits.json()['id']}/stop").status_code == 200  # its ticks count no more

    first = create(service, rows=800)
    assert first.status_code == 201, first.text
    refused = create(service, rows=300)
    assert error_code(refused, 429) == "limit_reached" and refused.headers["Retry-After"] == "10"
    assert "GREENROW_MAX_UNFINISHED_ROWS" in refused.json()["error"]["message"]

    assert service.post(f"/runs/{first.json()['id']}/stop").status_code == 200  # its rows are idle: not unfinished
    assert create(service, rows=300).status_code == 201


def test_runs_created_at_once_on_several_nodes_stay_within_the_limit(make_service):
    service = make_service(workers=2, env=LIMITS)
    start = threading.Barrier(RACERS)

    def race(_):
        start.wait()
        return requests.post(service.url("/runs"), json={"rows": 300, "tick_ms": HOUR_MS, "max_concurrency": 10},
                             timeout=30).status_code

    with ThreadPoolExecutor(RACERS) as pool:
        statuses = list(pool.map(race, range(RACERS)))

    assert sorted(statuses) == [201] * 3 + [429] * (RACERS - 3), statuses
