"""Supervision through the HTTP API: crashed row servers restart from the database, rows crashing past
the restart intensity fail until revived, and monitors cap, finish and stop their runs."""
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import requests

from tests.support.api import error_code
from tests.support.service import start_run, wait_for_run
from tests.support.rows import assert_unchanged, row_ticks, send
from tests.support.wait import wait_until
from tests.support.stats import node_stats

INTENSITY = {"GREENROW_MAX_RESTARTS": "2", "GREENROW_MAX_SECONDS": "30"}

def wait_for_row(service, row_id, status, timeout=10):
    def reached():
        row = service.json(f"/rows/{row_id}")
        return row["status"] == status and row["inbox"] == 0 and row
    return wait_until(reached, timeout=timeout, message=f"row {row_id} not {status} within {timeout} s")


def test_a_crashed_row_server_restarts_from_the_value_in_the_database_and_keeps_ticking(service, db):
    run = start_run(service, rows=1, start_value=1000, tick_ms=20, scan_ms=200)
    row_id = run["first_row_id"]
    wait_until(lambda: row_ticks(db, row_id) >= 1, timeout=10)
    before = send(service, row_id, "set", wait=True, value=50)

    crashed = send(service, row_id, "crash", wait=True)

    assert crashed["type"] == "crash" and crashed["restarts"] == 0
    wait_until(lambda: service.json(f"/rows/{row_id}")["restarts"] == 1, timeout=5, message="no restart")
    assert service.json(f"/runs/{run['id']}")["restarts"] == 1
    wait_until(lambda: row_ticks(db, row_id) > crashed["ticks"], timeout=5, message="no tick after the restart")
    value, ticks = db.fetch_all("SELECT value, ticks FROM rows WHERE id = %s", (row_id,))[0]
    assert value < 50 and value + (ticks - before["ticks"]) == 50  # from the set value, not start_value
    done = wait_for_run(service, run["id"], timeout=15)
    assert done["restarts"] == 1
    row = service.json(f"/rows/{row_id}")
    assert (row["status"], row["value"], row["ticks"], row["restarts"], row["node"]) == (
        "done", 0, before["ticks"] + 50, 1, None)


def test_crashes_sent_during_a_restart_backoff_wait_for_it_and_the_row_fails_after_two_restarts(make_service, db):
    service = make_service(env=dict(INTENSITY, GREENROW_RESTART_BACKOFF_MS="300"))
    run = start_run(service, rows=2, start_value=1000, tick_ms=50, scan_ms=200)
    row_id = run["first_row_id"]
    wait_until(lambda: row_ticks(db, row_id) >= 1, timeout=10)
    started = time.monotonic()

    # Each call is sent as soon as the previous one is answered, so while the row's server is down:
    # the restarted server (300 ms, then 600 ms later) is the one to apply it.
    replies = [send(service, row_id, "crash", wait=True) for _ in range(3)]

    assert [reply["restarts"] for reply in replies] == [0, 1, 2]
    failed = wait_for_row(service, row_id, "failed", timeout=15)
    assert time.monotonic() - started >= 0.3 + 0.6, "the restart backoff (300 ms, then 600 ms) was skipped"
    assert failed["restarts"] == 2
    assert assert_unchanged(lambda: db.fetch_all(
        "SELECT state, restarts FROM rows WHERE id = %s", (row_id,))[0]) == ("failed", 2)
    counters = node_stats(service)["counters"]
    assert (counters["row_servers_crashed"], counters["row_restarts"], counters["rows_failed"]) == (3, 2, 1)


def test_a_failed_row_stays_failed_until_a_set_revives_it_and_then_ticks_down_to_zero(make_service, db):
    service = make_service(env=INTENSITY)
    run = start_run(service, rows=3, start_value=1000, tick_ms=50, scan_ms=200)
    row_id = run["first_row_id"]
    wait_until(lambda: row_ticks(db, row_id) >= 1, timeout=10)
    for restarts in (1, 2):
        send(service, row_id, "crash", wait=True)
        wait_until(lambda: (lambda row: row["restarts"] == restarts and row["node"] is not None)(
            service.json(f"/rows/{row_id}")), timeout=5, message=f"restart {restarts} did not happen")

    send(service, row_id, "crash", wait=True)

    failed = wait_for_row(service, row_id, "failed", timeout=5)
    wait_until(lambda: service.json(f"/rows/{row_id}")["node"] is None, timeout=5)
    current = service.json(f"/runs/{run['id']}")
    assert (current["status"], current["failed"], current["restarts"]) == ("running", 1, 2)
    assert node_stats(service)["monitors"][str(run["id"])]["active"] == 2  # its slot is free again
    got = send(service, row_id, "get", wait=True)
    assert (got["status"], got["ticks"], got["restarts"]) == ("failed", failed["ticks"], 2)
    assert assert_unchanged(lambda: db.fetch_all(
        "SELECT state, ticks, restarts FROM rows WHERE id = %s", (row_id,))[0]) == ("failed", failed["ticks"], 2)

    revived = send(service, row_id, "set", wait=True, value=2)

    assert revived["value"] == 2 and revived["status"] != "failed"
    row = wait_for_row(service, row_id, "done", timeout=10)
    assert (row["value"], row["ticks"], row["restarts"]) == (0, failed["ticks"] + 2, 2)
    assert service.json(f"/runs/{run['id']}")["status"] == "running"


def test_a_monitor_never_runs_more_row_servers_than_max_concurrency(service):
    run = start_run(service, rows=300, start_value=3, tick_ms=50, scan_ms=200, max_concurrency=25)
    launched, servers, active_rows = [], [], []

    def sample():
        metrics = node_stats(service)
        monitor = metrics["monitors"].get(str(run["id"]))
        launched.append(monitor["active"] if monitor else 0)
        servers.append(metrics["row_servers"])
        current = service.json(f"/runs/{run['id']}")
        active_rows.append(current["active"])
        return current["status"] == "done" and current

    done = wait_until(sample, timeout=30, interval=0.01)

    assert len(launched) > 20
    assert max(launched) == 25 and max(servers) <= 25 and max(active_rows) <= 25
    assert (done["done"], done["ticks"]) == (300, 900)


def test_a_finished_run_frees_its_row_servers_and_monitor_and_its_elapsed_time_stops(service):
    run = start_run(service, rows=50, start_value=2, tick_ms=20)

    done = wait_for_run(service, run["id"], timeout=15)

    metrics = node_stats(service)
    assert metrics["row_servers"] == 0 and metrics["monitors"] == {}
    assert metrics["counters"]["row_servers_started"] == metrics["counters"]["row_servers_exited"] >= 50
    finished, started = (datetime.fromisoformat(done[name]) for name in ("finished_at", "started_at"))
    assert done["elapsed_s"] == round((finished - started).total_seconds(), 3)
    assert assert_unchanged(lambda: service.json(f"/runs/{run['id']}")["elapsed_s"], polls=3) == done["elapsed_s"]


def test_stopping_a_run_leaves_its_values_as_they_are_and_ends_its_row_servers(service, db):
    run = start_run(service, rows=100, start_value=1000, tick_ms=20, scan_ms=200)
    wait_until(lambda: service.json(f"/runs/{run['id']}")["ticks"] >= 200, timeout=10)

    response = service.post(f"/runs/{run['id']}/stop")

    assert response.status_code == 200, response.text
    stopped = response.json()
    assert (stopped["status"], stopped["idle"], stopped["pending"], stopped["active"]) == ("stopped", 100, 0, 0)
    assert stopped["finished_at"] is not None
    wait_until(lambda: (lambda m: m["row_servers"] == 0 and m["monitors"] == {})(node_stats(service)),
               timeout=5, message="row servers or the monitor outlived the stopped run")
    rows, _ = assert_unchanged(lambda: (
        db.fetch_all("SELECT value, ticks, state FROM rows WHERE run_id = %s ORDER BY id", (run["id"],)),
        node_stats(service)["counters"]["ticks_committed"]))
    assert all(state == "idle" and 0 < value == 1000 - ticks for value, ticks, state in rows)
    assert sum(ticks for _, ticks, _ in rows) == stopped["ticks"]
    row = service.json(f"/rows/{run['first_row_id']}")
    assert (row["status"], row["node"]) == ("idle", None)


REFUSE_FINISH = """
CREATE FUNCTION refuse_finish() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'finishing run % refused by the test', NEW.id;
END $$;
CREATE TRIGGER refuse_finish BEFORE UPDATE OF status ON runs FOR EACH ROW
    WHEN (NEW.status = 'done') EXECUTE FUNCTION refuse_finish();
"""


def test_a_monitor_that_raises_is_restarted_by_its_node_and_its_run_still_finishes(service, db):
    db.fetch_all(REFUSE_FINISH)
    run = start_run(service, rows=20, start_value=2, tick_ms=50, scan_ms=100)

    wait_until(lambda: node_stats(service)["counters"]["service_restarts"] >= 2, 15,
               message="the monitor was not restarted after raising")
    db.fetch_all("DROP TRIGGER refuse_finish ON runs")

    done = wait_for_run(service, run["id"], timeout=15)
    assert done["done"] == 20 and done["ticks"] == 40 and done["restarts"] == 0
    assert "greenrow.service.restart name=monitor-" in service.log()


def test_without_fault_injection_a_crash_message_is_refused_and_nothing_is_queued(make_service, db):
    service = make_service(env={"GREENROW_FAULT_INJECTION": ""})  # unset: the production default
    run = start_run(service, rows=1, start_value=5, tick_ms=3_600_000)
    row_id = run["first_row_id"]

    for path in (f"/rows/{row_id}/messages", f"/rows/{row_id}/messages?wait=true"):
        response = service.post(path, json={"type": "crash"})
        assert error_code(response, 400) == "fault_injection_disabled"

    assert db.fetch_value("SELECT count(*) FROM messages WHERE row_id = %s", (row_id,)) == 0
    assert service.json(f"/rows/{row_id}")["restarts"] == 0



def test_a_row_launched_while_its_on_demand_server_drains_a_crash_restarts_ticking_and_is_not_left_active(service, db):
    # Row b waits (pending) behind row a, which holds the run's one slot. A long inbox ending in a crash
    # keeps b's on-demand server busy while a is stopped, its slot freed and b claimed: the server is
    # launched mid-drain, with the launch queued behind the messages, then crashes. It must restart as
    # the launched (ticking) server of an active row; restarted on demand, it drained its inbox and
    # left, and the row stayed active with no server (its run never finished).
    run = start_run(service, rows=2, start_value=1_000, tick_ms=200, max_concurrency=1, scan_ms=100)
    row_a, row_b = run["first_row_id"], run["first_row_id"] + 1
    wait_until(lambda: row_ticks(db, row_a) >= 1, timeout=10, message="row a never ticked")
    db.fetch_all("INSERT INTO messages (row_id, shard, type) SELECT %(row)s, shard, 'ping'"
                 " FROM rows, generate_series(1, 400) WHERE id = %(row)s", {"row": row_b})
    send(service, row_b, "crash")  # last in b's inbox; the cast also starts b's server on demand
    send(service, row_a, "stop")

    wait_until(lambda: service.json(f"/rows/{row_b}")["restarts"] == 1, timeout=30, message="row b never crashed")
    wait_until(lambda: row_ticks(db, row_b) >= 2, timeout=10, message="row b was not restarted ticking")
    row = service.json(f"/rows/{row_b}")
    assert (row["status"], row["inbox"], row["node"] is not None) == ("running", 0, True), row
