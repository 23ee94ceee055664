"""A run's counts (rows by state, summed ticks and restarts) are kept in counter rows by triggers, so a
run view never counts the run's rows. In every snapshot of the database they equal what counting the rows
gives, while rows are claimed, tick, crash and restart, get messages that stop or revive them, and
when a run is stopped or its rows deleted."""
import random

from tests.support.service import start_run
from tests.support.wait import wait_until

STATES = ("pending", "active", "idle", "done", "failed")
# Both sides in one statement, so one snapshot: what the counter rows say, and what the rows are.
COUNTED_AND_ACTUAL = """
SELECT (SELECT ARRAY[coalesce(sum(pending), 0), coalesce(sum(active), 0), coalesce(sum(idle), 0),
                     coalesce(sum(done), 0), coalesce(sum(failed), 0), coalesce(sum(restarts), 0),
                     coalesce(sum(ticks), 0)]::bigint[]
          FROM run_counts WHERE run_id = %(run_id)s),
       (SELECT ARRAY[count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'active'),
                     count(*) FILTER (WHERE state = 'idle'), count(*) FILTER (WHERE state = 'done'),
                     count(*) FILTER (WHERE state = 'failed'), coalesce(sum(restarts), 0),
                     coalesce(sum(ticks), 0)]::bigint[]
          FROM rows WHERE run_id = %(run_id)s)
"""
# Every kind that changes what is counted: a restart, a row parked idle, one given more to do, one revived.
MESSAGES_SENT = 80  # each revives or parks a row: the run ends a little after the last one
MESSAGES = [{"type": "crash"}, {"type": "stop"}, {"type": "incr", "by": 2}, {"type": "set", "value": 4}]


def assert_counts_match(db, run_id):
    counted, actual = db.fetch_all(COUNTED_AND_ACTUAL, {"run_id": run_id})[0]
    assert counted == actual, f"run {run_id}: counter rows say {counted}, the rows {actual} (states {STATES})"
    return actual


def api_counts(service, run_id):
    run = service.json(f"/runs/{run_id}")
    return [run[state] for state in STATES] + [run["restarts"], run["ticks"]]


def test_run_counts_equal_the_rows_in_every_snapshot_while_rows_tick_crash_and_get_messages(service, db):
    run = start_run(service, rows=400, start_value=6, tick_ms=50, max_concurrency=150)
    rows = list(range(run["first_row_id"], run["last_row_id"] + 1))
    targets = random.Random(run["id"]).sample(rows, MESSAGES_SENT)
    samples = 0

    def done_while_checking():
        nonlocal samples
        if samples < len(targets):  # a message now and then, of every kind, to rows in every state
            row_id = targets[samples]
            response = service.post(f"/rows/{row_id}/messages", json=MESSAGES[samples % len(MESSAGES)])
            assert response.status_code == 202, response.text
        assert_counts_match(db, run["id"])
        samples += 1
        return service.json(f"/runs/{run['id']}")["status"] == "done"

    wait_until(done_while_checking, 90, interval=0.01, message="the run never finished")
    wait_until(lambda: db.fetch_value("SELECT count(*) FROM messages WHERE row_id = ANY(%s)", (rows,)) == 0, 20)
    actual = assert_counts_match(db, run["id"])
    assert samples >= 50 and actual[5] > 0, (samples, actual)  # watched long enough, and restarts were counted
    assert api_counts(service, run["id"]) == actual

    # Rows deleted (the retention of finished runs will): their counts go with them.
    db.fetch_all("DELETE FROM rows WHERE id = ANY(%s)", (rows[:100],))
    assert assert_counts_match(db, run["id"])[3] <= 300
    assert api_counts(service, run["id"]) == assert_counts_match(db, run["id"])


def test_a_stopped_run_counts_its_unfinished_rows_idle(service, db):
    run = start_run(service, rows=2_000, start_value=1_000, tick_ms=50, max_concurrency=500)
    wait_until(lambda: service.json(f"/runs/{run['id']}")["ticks"] >= 1_000, 30)

    stopped = service.post(f"/runs/{run['id']}/stop")
    assert stopped.status_code == 200, stopped.text

    actual = assert_counts_match(db, run["id"])  # the stop parked them in the statement that stopped the run
    assert actual[:5] == [0, 0, 2_000, 0, 0] and api_counts(service, run["id"]) == actual
