"""Retention: DELETE /runs/<id> marks a finished run `deleting`; a run deleter removes its messages, rows and
counters in batches, then the run (GET answers 404 after). Running runs are refused (409); messages to rows
of a run being deleted get 404; the mark is durable (a node started later finishes the job); with
GREENROW_RETAIN_FINISHED_RUNS_S the service deletes finished runs by itself; at 20,000 rows, another run's
ticks keep their pace meanwhile."""
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2

from tests.support.api import error_code
from tests.support.database import row_locked
from tests.support.service import start_run, wait_for_run
from tests.support.stats import node_stats
from tests.support.wait import wait_until


def leftovers(db, run):
    """What is left of a run in the database: its rows, its rows' messages, its counter rows, its record."""
    span = (run["first_row_id"], run["last_row_id"])
    return {
        "rows": db.fetch_value("SELECT count(*) FROM rows WHERE id BETWEEN %s AND %s", span),
        "messages": db.fetch_value("SELECT count(*) FROM messages WHERE row_id BETWEEN %s AND %s", span),
        "dead_letters": db.fetch_value("SELECT count(*) FROM dead_letters WHERE row_id BETWEEN %s AND %s", span),
        "run_counts": db.fetch_value("SELECT count(*) FROM run_counts WHERE run_id = %s", (run["id"],)),
        "runs": db.fetch_value("SELECT count(*) FROM runs WHERE id = %s", (run["id"],)),
    }


NOTHING = {"rows": 0, "messages": 0, "dead_letters": 0, "run_counts": 0, "runs": 0}


def gone(service, run_id, timeout=30):
    wait_until(lambda: service.get(f"/runs/{run_id}").status_code == 404, timeout,
               message=f"run {run_id} was never deleted")


def queue_messages(db, run, count):
    """Messages left in a finished run's inboxes, as a cast nobody was woken for leaves them."""
    db.fetch_all("INSERT INTO messages (row_id, shard, type, body)"
                 " SELECT id, shard, 'incr', '{\"by\": 1}' FROM rows WHERE run_id = %s ORDER BY id LIMIT %s",
                 (run["id"], count))


def queue_dead_letters(db, run, count):
    db.fetch_all("INSERT INTO dead_letters (row_id, shard, message_id, type, body, error, sent_at)"
                 " SELECT id, shard, 0, 'crash', '{\"poison\": 1}', 'test', now() FROM rows WHERE run_id = %s"
                 " ORDER BY id DESC LIMIT %s", (run["id"], count))


def test_a_deleted_run_is_marked_deleting_then_its_rows_messages_dead_letters_and_counts_are_gone(service, db):
    run = wait_for_run(service, start_run(service, rows=300, start_value=1, tick_ms=20)["id"])
    queue_messages(db, run, 50)
    queue_dead_letters(db, run, 30)
    assert leftovers(db, run)["dead_letters"] == 30
    response = service.delete(f"/runs/{run['id']}")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "deleting" and response.json()["id"] == run["id"]
    gone(service, run["id"])
    assert leftovers(db, run) == NOTHING
    assert error_code(service.delete(f"/runs/{run['id']}"), 404) == "run_not_found"
    assert error_code(service.get(f"/rows/{run['first_row_id']}"), 404) == "row_not_found"
    assert node_stats(service)["counters"]["runs_deleted"] == 1


def test_a_running_run_is_refused_with_409_and_an_unknown_one_with_404(service, db):
    run = start_run(service, rows=10, start_value=100, tick_ms=1000)
    assert error_code(service.delete(f"/runs/{run['id']}"), 409) == "run_not_finished"
    assert service.json(f"/runs/{run['id']}")["status"] == "running"
    assert error_code(service.delete("/runs/999999"), 404) == "run_not_found"
    assert service.post(f"/runs/{run['id']}/stop").status_code == 200
    assert service.delete(f"/runs/{run['id']}").status_code == 202  # stopped: it may go
    gone(service, run["id"])
    assert leftovers(db, run) == NOTHING


def test_a_message_to_a_row_of_a_run_being_deleted_gets_404_and_the_held_row_goes_once_free(
        service, db, database_url):
    run = wait_for_run(service, start_run(service, rows=20, start_value=1, tick_ms=20)["id"])
    held = run["last_row_id"]
    with row_locked(database_url, held):  # as a row server applying a message holds it: the deleter passes it over
        assert service.delete(f"/runs/{run['id']}").status_code == 202
        wait_until(lambda: leftovers(db, run)["rows"] == 1, 20, message="the free rows were not deleted")
        assert service.json(f"/runs/{run['id']}")["status"] == "deleting"  # shown until it is gone
        for row_id in (held, run["first_row_id"]):  # still there (held), already gone
            response = service.post(f"/rows/{row_id}/messages", json={"type": "incr", "by": 1})
            assert error_code(response, 404) == "row_not_found", response.text
        response = service.post(f"/rows/{held}/messages?wait=true", json={"type": "get"})
        assert error_code(response, 404) == "row_not_found"
        assert "being deleted" in response.json()["error"]["message"]
        assert service.delete(f"/runs/{run['id']}").status_code == 202  # asked again: still 202
    gone(service, run["id"])
    assert leftovers(db, run) == NOTHING


def test_the_deleting_mark_is_durable_a_node_started_later_finishes_the_deletion(make_service, db):
    first = make_service()
    run = wait_for_run(first, start_run(first, rows=500, start_value=1, tick_ms=20)["id"])
    first.close()
    # As if a node marked it and died before its deleter began: the mark alone is the request.
    db.fetch_all("UPDATE runs SET status = 'deleting' WHERE id = %s", (run["id"],))
    second = make_service(workers=2)  # two deleters at once share the batches
    gone(second, run["id"])
    assert leftovers(db, run) == NOTHING


def test_a_node_killed_mid_deletion_leaves_the_rest_to_the_next_one(make_service, db, database_url):
    service = make_service()
    run = wait_for_run(service, start_run(service, rows=12_000, start_value=1, tick_ms=100)["id"], timeout=60)
    held = run["last_row_id"]
    with row_locked(database_url, held):  # the deletion cannot finish while this row is held
        assert service.delete(f"/runs/{run['id']}").status_code == 202
        wait_until(lambda: leftovers(db, run)["rows"] == 1, 30, message="the free rows were not deleted")
        service.kill_worker()  # gunicorn starts another worker: a new node, which finds the mark
    gone(service, run["id"])
    assert leftovers(db, run) == NOTHING


def test_with_retention_set_finished_runs_are_deleted_by_the_service_and_running_ones_kept(make_service, db):
    service = make_service(env={"GREENROW_RETAIN_FINISHED_RUNS_S": "1"})
    finished = wait_for_run(service, start_run(service, rows=100, start_value=1, tick_ms=20)["id"])
    running = start_run(service, rows=10, start_value=1000, tick_ms=1000)
    gone(service, finished["id"], timeout=20)
    assert leftovers(db, finished) == NOTHING
    assert service.json(f"/runs/{running['id']}")["status"] == "running"


def lateness(service):
    """(count, mean ms) of the node's tick lateness so far."""
    summary = node_stats(service)["tick_lateness"]
    return summary["count"], summary["mean_ms"] or 0.0


def mean_between(before, after):
    (count0, mean0), (count1, mean1) = before, after
    assert count1 > count0
    return (count1 * mean1 - count0 * mean0) / (count1 - count0)


def test_deleting_a_20000_row_run_leaves_another_runs_ticks_on_time(service, db):
    big = wait_for_run(service, start_run(service, rows=20_000, start_value=1, tick_ms=100)["id"], timeout=120)
    queue_messages(db, big, 2_000)
    other = start_run(service, rows=1_000, start_value=120, tick_ms=100)  # 12 s of ticks, 10,000 a second
    wait_until(lambda: service.json(f"/runs/{other['id']}")["active"] == 1_000, 20)
    start = lateness(service)
    wait_until(lambda: lateness(service)[0] >= start[0] + 20_000, 20)  # two seconds of ticks alone
    alone = lateness(service)
    began = time.monotonic()
    assert service.delete(f"/runs/{big['id']}").status_code == 202
    gone(service, big["id"], timeout=60)
    took = time.monotonic() - began
    during = lateness(service)
    assert leftovers(db, big) == NOTHING
    assert service.json(f"/runs/{other['id']}")["status"] == "running", "the deletion outlasted the other run"
    finished = wait_for_run(service, other["id"], timeout=60)
    baseline, deleting = mean_between(start, alone), mean_between(alone, during)
    print(f"deleted 20,000 rows and 2,000 messages in {took:.1f} s; "
          f"tick lateness mean: {baseline:.1f} ms alone, {deleting:.1f} ms while deleting; "
          f"other run: {finished['elapsed_s']} s for 12 s of ticks")
    # Relative, not a wall-clock bound (a busy machine slows both): the deletion adds little lateness.
    assert deleting <= baseline + 30, (baseline, deleting)
    assert db.fetch_all("SELECT min(ticks), max(ticks), max(value) FROM rows WHERE run_id = %s",
                        (other["id"],)) == [(120, 120, 0)]


def test_a_cast_that_meets_its_row_as_the_deleter_takes_it_gets_404_not_500(service, db, database_url):
    """The race by hand: the cast's statement sees the row (its run not yet marked) and then waits for its
    foreign key check while a deleter's transaction holds the row; that transaction commits the delete."""
    run = wait_for_run(service, start_run(service, rows=5, start_value=1, tick_ms=20)["id"])
    row_id = run["first_row_id"]
    deleter = psycopg2.connect(database_url)
    try:
        deleter.cursor().execute("DELETE FROM rows WHERE id = %s", (row_id,))
        with ThreadPoolExecutor(1) as pool:
            cast = pool.submit(service.post, f"/rows/{row_id}/messages", json={"type": "incr", "by": 1})
            wait_until(lambda: db.fetch_value(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%%insert_message%%'"),
                10, message="the cast never waited for the row")
            deleter.commit()
            response = cast.result(timeout=30)
    finally:
        deleter.close()
    assert error_code(response, 404) == "row_not_found", response.text
    assert db.fetch_value("SELECT count(*) FROM messages WHERE row_id = %s", (row_id,)) == 0
