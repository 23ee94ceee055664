"""GREENROW_MAX_CALLS_IN_FLIGHT: a node waits on a bounded number of calls; past it, 429 and nothing stored."""
import time
from concurrent.futures import ThreadPoolExecutor

from tests.support.rows import send
from tests.support.service import start_run
from tests.support.wait import wait_until

LIMIT = 3


def test_calls_past_the_nodes_bound_get_429_and_store_nothing_until_a_place_frees(make_service, db):
    # A crash with a slow restart holds the row's messages (and so its calls) for about 4 s.
    service = make_service(env={"GREENROW_MAX_CALLS_IN_FLIGHT": str(LIMIT), "GREENROW_RESTART_BACKOFF_MS": "4000"})
    run = start_run(service, rows=1, start_value=1000, tick_ms=3_600_000)
    row_id = run["first_row_id"]
    wait_until(lambda: service.json(f"/runs/{run['id']}")["active"] == 1, 10, message="the row never started")
    send(service, row_id, "crash")
    wait_until(lambda: service.json("/stats")["cluster"]["counters"]["row_servers_crashed"] == 1, 10,
               message="the row server never crashed")

    def call():
        return service.post(f"/rows/{row_id}/messages?wait=true&timeout_ms=20000", json={"type": "get"}, timeout=30)
    with ThreadPoolExecutor(LIMIT) as pool:
        waiting = [pool.submit(call) for _ in range(LIMIT)]
        wait_until(lambda: service.json(f"/rows/{row_id}")["inbox"] == LIMIT, 10, message="the calls never queued")
        began = time.monotonic()
        refused = call()
        assert time.monotonic() - began < 2  # at once, not after waiting
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_many_calls" and refused.headers["Retry-After"] == "1"
        assert "GREENROW_MAX_CALLS_IN_FLIGHT" in refused.json()["error"]["message"]
        assert db.fetch_all("SELECT count(*) FROM messages WHERE row_id = %s", (row_id,))[0][0] == LIMIT
        casts_still_go = send(service, row_id, "ping")  # the bound is on calls, not on casts
        assert casts_still_go["message_id"]
        assert [future.result().status_code for future in waiting] == [200] * LIMIT

    assert call().status_code == 200  # their places are free again
