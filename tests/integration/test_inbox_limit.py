"""A row's durable inbox holds at most GREENROW_INBOX_MAX messages: past it a cast or a call gets 429
inbox_full with Retry-After and nothing is stored, also when many senders race for the last places."""
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import requests

from tests.support.api import error_code
from tests.support.service import start_run
from tests.support.wait import wait_until

INBOX_MAX = 5
SENDERS = 20


def queued(db, row_id):
    return db.fetch_value("SELECT count(*) FROM messages WHERE row_id = %s", (row_id,))


def test_a_full_inbox_refuses_casts_and_calls_with_429_and_stores_nothing(make_service, db, database_url):
    service = make_service(env={"GREENROW_INBOX_MAX": str(INBOX_MAX)})
    run = start_run(service, rows=1, start_value=5, tick_ms=3_600_000)
    row_id = run["first_row_id"]
    url = service.url(f"/rows/{row_id}/messages")
    # The row server cannot apply anything while we hold its row (casts still commit: their key check
    # takes a lock this one lets through), so the inbox fills up.
    holder = psycopg2.connect(database_url)
    holder.cursor().execute("SELECT id FROM rows WHERE id = %s FOR NO KEY UPDATE", (row_id,))
    try:
        start = threading.Barrier(SENDERS)

        def cast(by):
            start.wait()
            return by, requests.post(url, json={"type": "incr", "by": by}, timeout=30)

        with ThreadPoolExecutor(SENDERS) as pool:
            answers = list(pool.map(cast, range(1, SENDERS + 1)))

        accepted = [by for by, answer in answers if answer.status_code == 202]
        refused = [answer for _, answer in answers if answer.status_code != 202]
        assert len(accepted) == INBOX_MAX, [answer.status_code for _, answer in answers]
        for answer in refused:
            assert error_code(answer, 429) == "inbox_full" and answer.headers["Retry-After"] == "1"
        call = service.post(f"/rows/{row_id}/messages?wait=true", json={"type": "get"})
        assert error_code(call, 429) == "inbox_full"
        assert queued(db, row_id) == INBOX_MAX
    finally:
        holder.rollback()
        holder.close()

    # Let go: the inbox drains and takes messages again; only the accepted casts were applied.
    wait_until(lambda: queued(db, row_id) == 0, 20, message="the inbox never drained")
    reply = service.post(f"/rows/{row_id}/messages?wait=true", json={"type": "get"})
    assert reply.status_code == 200 and reply.json()["reply"]["value"] == 5 + sum(accepted)
