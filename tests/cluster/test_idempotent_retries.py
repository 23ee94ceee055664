"""Casts retried with their Idempotency-Key through nginx while workers are killed: every cast is applied
exactly once, so every row ends at its start value plus the exact sum of its casts.

Without a key, a cast whose answer was lost (the worker died after the commit: nginx answers 502) cannot
be retried safely; with one, the client retries until it gets an answer, and the service applies it once.
"""
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support.cluster import wait_for_inbox_empty
from tests.support.service import start_run
from tests.support.wait import wait_until

HOUR_MS = 3_600_000
ROWS = 32
CASTS = 3000
SENDERS = 16
KILLS_AT = (400, 1000, 1600, 2200)   # responses received before each SIGKILL of a worker
START_VALUE = 1_000_000
RETRY_FOR_S = 60.0


def cast_until_answered(url, by, http):
    """POST one incr with its own key until it is answered 202: (attempts, first failure or None)."""
    key, attempts, first_failure = str(uuid.uuid4()), 0, None
    deadline = time.monotonic() + RETRY_FOR_S
    while time.monotonic() < deadline:
        attempts += 1
        try:
            response = http.post(url, json={"type": "incr", "by": by}, headers={"Idempotency-Key": key}, timeout=10)
            status = response.status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        if status == 202:
            return attempts, first_failure
        assert status in (429, 502, 503, 504) or isinstance(status, str), (status, response.text)
        first_failure = first_failure or status
        time.sleep(0.05)
    raise AssertionError(f"a cast got no answer in {RETRY_FOR_S} s of retries")


def test_casts_retried_with_their_keys_through_nginx_while_workers_die_are_applied_exactly_once(make_cluster, db):
    cluster = make_cluster(instances=2, workers=2)
    cluster.wait_balanced(4)
    run = start_run(cluster, rows=ROWS * 8, start_value=START_VALUE, tick_ms=HOUR_MS)  # rows spread over the shards
    targets = [run["first_row_id"] + 8 * k for k in range(ROWS)]
    wait_until(lambda: cluster.json(f"/runs/{run['id']}")["active"] == ROWS * 8, 30, interval=0.1)
    rng = random.Random(8)
    casts = [(rng.choice(targets), rng.randint(1, 1000)) for _ in range(CASTS)]
    answered, failures, attempts = [], Counter(), Counter()
    lock, local = threading.Lock(), threading.local()
    reached = {at: threading.Event() for at in KILLS_AT}

    def send(cast):
        if not hasattr(local, "http"):
            local.http = requests.Session()
        row_id, by = cast
        tries, failure = cast_until_answered(cluster.url(f"/rows/{row_id}/messages"), by, local.http)
        with lock:
            answered.append(cast)
            attempts[tries] += 1
            if failure is not None:
                failures[failure] += 1
            for at, event in reached.items():
                if len(answered) >= at:
                    event.set()

    killed = []
    with ThreadPoolExecutor(SENDERS) as pool:
        futures = [pool.submit(send, cast) for cast in casts]
        for number, at in enumerate(KILLS_AT):
            assert reached[at].wait(120), f"only {len(answered)} casts were answered"
            instance = cluster.instances[number % 2]
            killed.append(cluster.kill_worker(instance))
        for future in futures:
            future.result(timeout=180)

    assert len(answered) == CASTS and len(killed) == len(KILLS_AT)
    retried = sum(count for tries, count in attempts.items() if tries > 1)
    assert retried >= 1, f"no cast needed a retry: the kills were not met ({attempts})"
    wait_for_inbox_empty(db, targets, timeout=60)
    expected = defaultdict(int)
    for row_id, by in casts:
        expected[row_id] += by
    values = dict(db.fetch_all("SELECT id, value FROM rows WHERE id = ANY(%s)", (targets,)))
    wrong = {row_id: (values[row_id] - START_VALUE, expected[row_id]) for row_id in targets
             if values[row_id] - START_VALUE != expected[row_id]}
    assert not wrong, f"rows not at start + the exact sum of their casts (got, expected): {wrong}; " \
                      f"failures before an answer: {dict(failures)}"
    assert db.fetch_value("SELECT count(*) FROM idempotency_keys WHERE message_id IS NOT NULL") == CASTS
    print(f"{CASTS} casts, {retried} retried after {dict(failures)}, {len(killed)} workers killed: "
          f"every row exact")
