"""Every status the OpenAPI document lists for an operation is reachable: for each (operation, status),
a request that gets it from a real service (but 500, which only a bug answers). The service has a token
and small limits; 503 comes from a service whose database does not exist (the `unready` fixture).
(Adapted from a helper's branch to main's operations: dead letters, run deletion, event streams, the dashboard.)"""
import uuid

import pytest

from service.openapi import DOCUMENT
from tests.support.database import Db, row_locked
from tests.support.service import ServiceProcess
from tests.support.wait import wait_until

TOKEN = "statuses-" + "s" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MISSING_ID = 10**15
LIMIT_ROWS = 100
CASES = [(method.upper(), path, int(status)) for path, methods in DOCUMENT["paths"].items()
         for method, operation in methods.items() for status in operation["responses"] if status != "500"]


@pytest.fixture(scope="module")
def limited(api_database, tmp_path_factory):
    service = ServiceProcess(api_database, tmp_path_factory.mktemp("statuses") / "service.log", env={
        "GREENROW_API_TOKEN": TOKEN, "GREENROW_MAX_UNFINISHED_ROWS": str(LIMIT_ROWS), "GREENROW_INBOX_MAX": "1",
        "GREENROW_MAX_EVENT_STREAMS": "1"})
    try:
        yield service.start()
    finally:
        service.close()


@pytest.fixture(scope="module")
def run(limited):
    """A run whose rows stay unfinished (a tick an hour away): two rows the tests send messages to."""
    response = limited.post("/runs", json={"rows": 2, "start_value": 5, "tick_ms": 3_600_000}, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()


def dead_letter(database_url, row_id):
    """A dead letter of the row, made in the table (as the supervisor makes one): its id."""
    return Db(database_url).fetch_value(
        "INSERT INTO dead_letters (row_id, shard, message_id, type, body, error, sent_at)"
        " SELECT id, shard, 0, 'incr', '{\"by\": 5}', 'test', now() FROM rows WHERE id = %s RETURNING id", (row_id,))


def wait_for_empty_inbox(database_url, row_id):
    """The tests share one run, and its inboxes hold one message (GREENROW_INBOX_MAX): a test about to send
    a message that must be accepted first waits until the row's server has applied an earlier test's."""
    wait_until(lambda: not [m for m in queued_messages(database_url) if m[1] == row_id], 30,
               message=f"row {row_id}'s inbox never emptied: {queued_messages(database_url)}")


def queued_messages(database_url):
    """Every message in the inboxes, for an assertion's message."""
    return Db(database_url).fetch_all("SELECT id, row_id, type, body, reply_to, created_at FROM messages ORDER BY id")


def concrete(path, run, database_url=None):
    if "{dead_letter_id}" in path:
        path = path.replace("{dead_letter_id}", str(dead_letter(database_url, run["last_row_id"])))
    return (path.replace("{run_id}", str(run["id"])).replace("{row_id}", str(run["first_row_id"]))
            .replace("{name}", "dashboard.js"))


def missing(path):
    return (path.replace("{run_id}", str(MISSING_ID)).replace("{row_id}", str(MISSING_ID))
            .replace("{dead_letter_id}", str(MISSING_ID)).replace("{name}", "missing.js"))


def valid_body(path):
    if path == "/runs":
        return {"rows": 1, "start_value": 1, "tick_ms": 3_600_000}
    if path.endswith("/messages"):
        return {"type": "ping"}
    return None


def ask(service, method, path, headers=AUTH, **kwargs):
    return service.http.request(method, service.url(path), headers=headers, timeout=30, **kwargs)


def success(service, method, path, run, status, database_url):
    if path in ("/runs/{run_id}", "/runs/{run_id}/stop") and method != "GET":  # a run of its own
        created = ask(service, "POST", "/runs", json={"rows": 1, "start_value": 1, "tick_ms": 10}).json()
        if method == "DELETE":  # once it is done
            wait_until(lambda: ask(service, "GET", f"/runs/{created['id']}").json()["status"] == "done", 20)
        return ask(service, method, f"/runs/{created['id']}" + ("/stop" if path.endswith("/stop") else ""))
    if path.endswith("/events"):  # a stream: its headers answer, then it is closed
        response = ask(service, method, concrete(path, run), stream=True)
        response.close()
        return response
    if path.endswith("/messages") or path.endswith("/replay"):  # into an inbox with room
        wait_for_empty_inbox(database_url, run["first_row_id" if path.endswith("/messages") else "last_row_id"])
    query = "?wait=true" if status == 200 and path.endswith("/messages") else ""
    return ask(service, method, concrete(path, run, database_url) + query, json=valid_body(path))


def conflict(service, method, path, run, status, database_url):
    return ask(service, method, concrete(path, run))  # DELETE of the run that is still running


def too_large(service, method, path, run, status, database_url):
    if path == "/runs":
        return ask(service, method, path, json={"rows": LIMIT_ROWS + 1})  # run_too_large
    key = {"Idempotency-Key": str(uuid.uuid4()), **AUTH}  # idempotency_key_reused
    wait_for_empty_inbox(database_url, run["first_row_id"])
    first = ask(service, method, concrete(path, run), headers=key, json={"type": "ping"})
    assert first.status_code == 202, (first.text, queued_messages(database_url))
    return ask(service, method, concrete(path, run), headers=key, json={"type": "get"})


def over_limit(service, method, path, run, status, database_url):
    if path == "/runs":
        return ask(service, method, path, json={"rows": LIMIT_ROWS - 1, "tick_ms": 3_600_000})  # with the run's 2
    if path.endswith("/events"):  # the node's one stream is taken
        def a_stream():  # (a stream its client closed gives its place back within about a second)
            stream = ask(service, method, concrete(path, run), stream=True)
            return stream if stream.status_code == 200 else stream.close()
        held = wait_until(a_stream, 30, message="the node's one stream never came free")
        try:
            return ask(service, method, concrete(path, run))
        finally:
            held.close()
    row_id = run["first_row_id"]
    wait_for_empty_inbox(database_url, row_id)
    if path.endswith("/replay"):  # into the row's full inbox
        letter_id = dead_letter(database_url, row_id)
        with row_locked(database_url, row_id):
            first = ask(service, "POST", f"/rows/{row_id}/messages", json={"type": "ping"})
            assert first.status_code == 202, (first.text, queued_messages(database_url))
            return ask(service, method, f"/dead-letters/{letter_id}/replay")
    with row_locked(database_url, row_id):  # the inbox's one place stays taken
        first = ask(service, method, f"/rows/{row_id}/messages", json={"type": "ping"})
        assert first.status_code == 202, (first.text, queued_messages(database_url))
        return ask(service, method, f"/rows/{row_id}/messages", json={"type": "ping"})


def timed_out(service, method, path, run, status, database_url):
    row_id = run["last_row_id"]
    with row_locked(database_url, row_id):
        return ask(service, method, f"/rows/{row_id}/messages?wait=true&timeout_ms=100", json={"type": "get"})


REQUESTS = {
    200: success, 201: success, 202: success,
    400: lambda service, method, path, run, _, db: ask(service, method, concrete(path, run, db) + "?bogus=1"),
    401: lambda service, method, path, run, _, db: ask(service, method, concrete(path, run, db), headers={}),
    404: lambda service, method, path, *_: ask(service, method, missing(path), json=valid_body(path)),
    409: conflict,
    413: lambda service, method, path, run, _, db: ask(service, method, concrete(path, run, db), data=b" " * 70_000,
                                                       headers={"Content-Type": "application/json", **AUTH}),
    415: lambda service, method, path, run, _, db: ask(service, method, concrete(path, run, db), data=b"{}",
                                                       headers={"Content-Type": "text/plain", **AUTH}),
    422: too_large,
    429: over_limit,
    504: timed_out,
}


@pytest.mark.parametrize("method, path, status", CASES, ids=[f"{m} {p} {s}" for m, p, s in CASES])
def test_every_documented_status_is_reachable(limited, unready, run, api_database, method, path, status):
    if status == 503:  # no database: every operation that needs it answers 503 unavailable (no token set there)
        response = ask(unready, method, concrete(path.replace("{dead_letter_id}", "1"), run), headers={},
                       json=valid_body(path))
    else:
        response = REQUESTS[status](limited, method, path, run, status, api_database)
    assert response.status_code == status, (response.status_code, response.text)
    if status >= 400:
        assert set(response.json()["error"]) == {"code", "message"}
