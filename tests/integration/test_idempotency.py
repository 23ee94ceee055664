"""Idempotency-Key on POST /runs and POST /rows/<id>/messages: a retry applies nothing again and gets the
first answer; the key with another request is refused; keys are scoped per token and expire."""
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest

from greenlets.db.queries import run_query
from tests.support.service import start_run
from tests.support.wait import wait_until

HOUR_MS = 3_600_000


def key():
    return str(uuid.uuid4())


def post(service, path, body, idempotency_key, **headers):
    return service.post(path, json=body, headers={"Idempotency-Key": idempotency_key, **headers}, timeout=30)


@pytest.fixture
def still_row(service):
    """A row of a stopped run: it never ticks, so its value is exactly what its messages made it."""
    run = start_run(service, rows=1, start_value=1000, tick_ms=HOUR_MS)
    assert service.post(f"/runs/{run['id']}/stop").status_code == 200
    return run["first_row_id"]


def value(service, row_id):
    def settled():
        row = service.json(f"/rows/{row_id}")
        return row["inbox"] == 0 and row
    return wait_until(settled, 10, message=f"row {row_id}'s inbox never emptied")["value"]


def test_a_retried_run_creation_creates_one_run_and_answers_the_same(service, db):
    k = key()
    first = post(service, "/runs", {"rows": 5, "start_value": 40}, k)
    again = post(service, "/runs", {"start_value": 40, "rows": 5, "step": 1}, k)  # the same request, spelt otherwise

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and list(again.json()) == list(first.json())  # the same body, field by field
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert db.fetch_value("SELECT count(*) FROM runs") == 1

    other = post(service, "/runs", {"rows": 6, "start_value": 40}, k)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert db.fetch_value("SELECT count(*) FROM runs") == 1


def test_a_retried_cast_is_queued_and_applied_once(service, still_row):
    k = key()
    answers = [post(service, f"/rows/{still_row}/messages", {"type": "incr", "by": 7}, k) for _ in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 202]
    assert len({a.json()["message_id"] for a in answers}) == 1
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None, "true", "true"]
    assert value(service, still_row) == 1007
    as_a_call = post(service, f"/rows/{still_row}/messages?wait=true", {"type": "incr", "by": 7}, k)
    assert as_a_call.status_code == 422, "a call is another request than a cast"


def test_concurrent_duplicates_apply_once_and_all_get_the_first_answer(service, still_row, db):
    k = key()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: post(service, f"/rows/{still_row}/messages", {"type": "incr", "by": 3}, k),
                                range(16)))

    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["message_id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 15
    assert value(service, still_row) == 1003


def test_a_retried_call_waits_for_the_first_calls_reply_and_then_returns_it(make_service):
    # A crash with a slow restart keeps the row's messages queued, untouched, for about 4 s.
    service = make_service(env={"GREENROW_RESTART_BACKOFF_MS": "4000"})
    run = start_run(service, rows=1, start_value=1000, tick_ms=HOUR_MS)
    row_id = run["first_row_id"]
    wait_until(lambda: service.json(f"/runs/{run['id']}")["active"] == 1, 10, message="the row never started")
    assert service.post(f"/rows/{row_id}/messages", json={"type": "crash"}).status_code == 202
    wait_until(lambda: service.json("/stats")["cluster"]["counters"]["row_servers_crashed"] == 1, 10,
               message="the row server never crashed")
    k, body = key(), {"type": "incr", "by": 100}
    short, long = (f"/rows/{row_id}/messages?wait=true&timeout_ms={ms}" for ms in (300, 20_000))

    first = post(service, short, body, k)
    assert first.status_code == 504, first.text  # its message stays queued
    message_id = first.json()["message_id"]
    again = post(service, short, body, k)
    assert again.status_code == 504 and again.json()["message_id"] == message_id  # the same message, still queued
    replied = post(service, long, body, k)  # waits for the restart to apply it
    assert replied.status_code == 200, replied.text
    assert replied.headers["Idempotent-Replayed"] == "true"
    assert replied.json()["message_id"] == message_id and replied.json()["reply"]["value"] == 1100
    stored = post(service, short, body, k)
    assert stored.status_code == 200 and stored.json() == replied.json()
    assert value(service, row_id) == 1100  # applied once


def test_keys_are_scoped_to_the_token_they_came_with(make_service):
    tokens = ["first-client-token-0123456789", "second-client-token-012345678"]
    service = make_service(env={"GREENROW_API_TOKEN": ",".join(tokens)})
    k = key()
    runs = [post(service, "/runs", {"rows": 2}, k, Authorization=f"Bearer {token}") for token in tokens]
    assert [r.status_code for r in runs] == [201, 201] and runs[0].json()["id"] != runs[1].json()["id"]
    assert [r.headers.get("Idempotent-Replayed") for r in runs] == [None, None]


def test_a_bad_key_is_refused_before_anything_is_done(service, db):
    for bad in ("", "with space", "x" * 256, "é"):
        response = service.post("/runs", json={"rows": 1}, headers={"Idempotency-Key": bad.encode().decode("latin-1")})
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_idempotency_key", bad
    assert db.fetch_value("SELECT count(*) FROM runs") == 0


def test_a_key_is_forgotten_after_its_ttl(make_service, db):
    service = make_service(env={"GREENROW_IDEMPOTENCY_TTL_S": "1"})
    k = key()
    first = post(service, "/runs", {"rows": 1}, k)
    assert first.status_code == 201
    fresh = wait_until(lambda: (r := post(service, "/runs", {"rows": 1}, k)).headers.get("Idempotent-Replayed") is None
                       and r, 10, message="the key was never forgotten")
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]
    assert db.fetch_value("SELECT count(*) FROM runs") == 2


def test_the_purge_deletes_expired_keys_in_batches_and_keeps_live_ones(database_url, db):
    db.fetch_all("INSERT INTO idempotency_keys (owner, key, fingerprint, created_at) "
                 "SELECT '', 'old-' || n, 'f', now() - interval '2 days' FROM generate_series(1, 5) n")
    db.fetch_all("INSERT INTO idempotency_keys (owner, key, fingerprint) VALUES ('', 'live', 'f')")
    conn = psycopg2.connect(database_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            deleted = []
            for _ in range(4):
                run_query(cur, "purge_idempotency_keys", {"ttl_s": 86400, "batch": 2})
                deleted.append(cur.rowcount)
    finally:
        conn.close()
    assert deleted == [2, 2, 1, 0]
    assert [k for (k,) in db.fetch_all("SELECT key FROM idempotency_keys")] == ["live"]


def test_a_refused_request_keeps_no_key_so_the_key_stays_free_for_its_corrected_retry(service, still_row, db):
    k = key()
    missing_row = post(service, "/rows/999999999/messages", {"type": "incr", "by": 5}, k)
    bad_body = post(service, f"/rows/{still_row}/messages", {"type": "incr", "by": "5"}, k)
    assert missing_row.status_code == 404 and bad_body.status_code == 400
    assert db.fetch_value("SELECT count(*) FROM idempotency_keys") == 0

    corrected = post(service, f"/rows/{still_row}/messages", {"type": "incr", "by": 5}, k)
    assert corrected.status_code == 202 and "Idempotent-Replayed" not in corrected.headers
    assert value(service, still_row) == 1005
    elsewhere = post(service, "/runs", {"rows": 1}, k)
    assert elsewhere.status_code == 422 and elsewhere.json()["error"]["code"] == "idempotency_key_reused"
