"""A ticking run with casts and calls in flight survives a node's or an instance's death, a graceful stop
with calls waiting, and a node frozen past its lease: it finishes with exact ticks, no restart counted,
every accepted message applied once and in order, no internal error, a few log lines."""
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import requests

from chaos import faults
from chaos.workload import LEDGER_TICK_MS
from tests.faults.scenario import FaultScenario
from tests.support.cluster import SHORT_LEASES, wait_for_inbox_empty
from tests.support.database import row_locked
from tests.support.wait import wait_until

LEASE_TTL_S = int(SHORT_LEASES["GREENROW_LEASE_TTL_MS"]) / 1000
PAUSE_PAST_LEASE_S = 2.0
WAITING_CALLS = 3
WAITING_RUN_ROWS = 256         # a row on every shard: some on each node
CALL_WAIT_MS = 60_000          # the longest a call may wait (the API's limit)
GRACEFUL_TIMEOUT_S = 30        # gunicorn's graceful_timeout (config/gunicorn.conf.py)


def test_a_run_finishes_exactly_after_a_worker_is_killed(make_service, db):
    service = make_service(workers=2, env=SHORT_LEASES)
    scenario = FaultScenario(service, db, [service]).start()
    scenario.wait_for_progress(0.3)

    killed = faults.kill_worker(service)

    scenario.finish([killed])


def test_a_run_finishes_exactly_after_an_instance_is_killed(make_cluster, db):
    cluster = make_cluster(instances=2, workers=1)
    scenario = FaultScenario(cluster, db, cluster.instances).start()
    scenario.wait_for_progress(0.3)

    killed = faults.kill_instance(cluster.instances[1])

    scenario.finish([killed])


def test_a_node_frozen_past_its_lease_comes_back_without_disturbing_the_run(make_service, db):
    service = make_service(workers=2, env=SHORT_LEASES)
    scenario = FaultScenario(service, db, [service]).start()
    scenario.wait_for_progress(0.3)

    paused = faults.pause_node(service.worker_pids()[0], LEASE_TTL_S + PAUSE_PAST_LEASE_S)

    scenario.finish([paused])


def test_an_instance_stopped_with_calls_waiting_hands_its_shards_off_within_the_graceful_timeout(make_cluster, db):
    cluster = make_cluster(instances=2, workers=1)
    stayer, leaver = cluster.instances
    scenario = FaultScenario(cluster, db, cluster.instances).start()
    scenario.wait_for_progress(0.3)
    leaving = nodes_of(db, leaver)
    # Calls to the leaving instance that cannot be answered soon: their rows (a run of their own, on the
    # staying node) are locked against their messages' apply, as a slow statement would, so they wait.
    waiting = scenario.start_run(rows=WAITING_RUN_ROWS, start_value=1, tick_ms=LEDGER_TICK_MS,
                                 max_concurrency=WAITING_RUN_ROWS)
    waiting_rows = range(waiting["first_row_id"], waiting["last_row_id"] + 1)
    waited_on = rows_held_by(db, waiting_rows, nodes_of(db, stayer))[:WAITING_CALLS]
    assert len(waited_on) == WAITING_CALLS, "the staying node holds too few of the waiting run's shards"

    with ExitStack() as held, ThreadPoolExecutor(WAITING_CALLS) as callers:
        for row_id in waited_on:
            held.enter_context(row_locked(db.url, row_id))
        calls = [callers.submit(call_and_wait, leaver, row_id) for row_id in waited_on]
        wait_until(lambda: queued(db, waited_on) == WAITING_CALLS, 10, interval=0.05,
                   message="the waiting calls never reached the inboxes")

        stop = faults.terminate_instance(leaver)
        held.close()
        answers = [call.result(timeout=60) for call in calls]

    def handed_off(_ops):
        log = leaver.log()
        stopped = [node for node in leaving if f"greenrow.node.stop node={node}" in log
                   and db.fetch_value("SELECT count(*) FROM nodes WHERE id = %s", (node,)) == 0]
        assert leaving and stopped == leaving and "could not release leases" not in log, (
            f"{stop.detail} after {stop.duration_s:.1f} s; nodes {leaving} should have stopped gracefully (logged"
            f" greenrow.node.stop, released their leases, deregistered) within gunicorn's graceful timeout"
            f" ({GRACEFUL_TIMEOUT_S} s), only {stopped} did; the log's last lines:\n"
            + "\n".join(log.splitlines()[-15:]))

    def answered_as_committed(_ops):
        # Their messages are committed: a 503 would tell the client they were not (a retry would apply them
        # twice); the API's answer for "committed, no reply in time" is a 504 `timeout`.
        assert answers == [(504, "timeout")] * WAITING_CALLS, f"the waiting calls got {answers}"

    scenario.finish([stop], also=[handed_off, answered_as_committed])
    wait_for_inbox_empty(db, waited_on)


def nodes_of(db, instance):
    return [node for (node,) in db.fetch_all("SELECT id FROM nodes WHERE pid = ANY(%s)", (instance.worker_pids(),))]


def rows_held_by(db, row_ids, node_ids):
    """The rows among row_ids whose shard's live lease one of node_ids holds."""
    return [row_id for (row_id,) in db.fetch_all(
        "SELECT r.id FROM rows r JOIN shard_leases l USING (shard) WHERE r.id = ANY(%s) AND l.node_id = ANY(%s)"
        " AND l.expires_at > now() ORDER BY r.id", (list(row_ids), node_ids))]


def call_and_wait(instance, row_id):
    """A call straight to one instance, waiting up to a minute: (status, error code), or (None, exception)."""
    try:
        response = requests.post(instance.url(f"/rows/{row_id}/messages?wait=true&timeout_ms={CALL_WAIT_MS}"),
                                 json={"type": "incr", "by": 1}, timeout=CALL_WAIT_MS / 1000 + 10)
    except requests.RequestException as exc:
        return None, type(exc).__name__
    return response.status_code, (response.json().get("error") or {}).get("code")


def queued(db, row_ids):
    return db.fetch_value("SELECT count(*) FROM messages WHERE row_id = ANY(%s)", (list(row_ids),))
