"""Dead letters: a message that crashes its row server on every attempt is moved to the row's dead letters
once the row's restart limit is reached, and the server goes on with the next message (the row is not
failed); a message whose effect can never be applied goes there at once. GET /rows/<id>/dead-letters
lists them, POST /dead-letters/<id>/replay queues one again (within GREENROW_INBOX_MAX), DELETE drops one;
all counted in /stats and /metrics."""
import json

from tests.support.api import error_code
from tests.support.database import row_locked
from tests.support.rows import send
from tests.support.service import start_run
from tests.support.stats import node_stats
from tests.support.wait import wait_until

MAX_RESTARTS = 3  # the default GREENROW_MAX_RESTARTS


def dead_letters(service, row_id):
    response = service.get(f"/rows/{row_id}/dead-letters")
    assert response.status_code == 200, response.text
    return response.json()["dead_letters"]


def counters(service):
    return node_stats(service)["counters"]


def test_a_poison_message_goes_to_the_dead_letters_at_the_restart_limit_and_the_row_goes_on(service, db):
    run = start_run(service, rows=1, start_value=100_000, tick_ms=100)
    row_id = run["first_row_id"]
    send(service, row_id, "incr", by=1)
    send(service, row_id, "crash", poison=1)
    send(service, row_id, "incr", by=2)
    after = service.post(f"/rows/{row_id}/messages?wait=true&timeout_ms=20000", json={"type": "get"})
    assert after.status_code == 200, after.text
    row = after.json()["reply"]
    assert row["status"] == "running" and row["value"] + row["ticks"] == 100_003  # both incrs, no poison
    assert row["restarts"] == MAX_RESTARTS + 1  # three restarts on the poison, one after setting it aside

    [letter] = dead_letters(service, row_id)
    assert (letter["row_id"], letter["type"], letter["body"]) == (row_id, "crash", {"poison": 1})
    assert letter["error"].startswith("CrashRequested: poison crash message")
    assert set(letter) == {"id", "row_id", "message_id", "type", "body", "error", "sent_at", "dead_at"}
    seen = counters(service)
    assert (seen["messages_dead_lettered"], seen["rows_failed"]) == (1, 0)
    assert service.json(f"/runs/{run['id']}")["failed"] == 0

    # Replayed: it is queued again (and crashes the server again, back to the dead letters), and the
    # dead letter it was is gone.
    replayed = service.post(f"/dead-letters/{letter['id']}/replay")
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["row_id"] == row_id and replayed.json()["message_id"] > letter["message_id"]
    assert error_code(service.post(f"/dead-letters/{letter['id']}/replay"), 404) == "dead_letter_not_found"
    [again] = wait_until(lambda: dead_letters(service, row_id), 20, message="the replayed poison never came back")
    assert again["id"] != letter["id"] and again["message_id"] == replayed.json()["message_id"]
    assert counters(service)["dead_letters_replayed"] == 1

    dropped = service.delete(f"/dead-letters/{again['id']}")
    assert dropped.status_code == 200 and dropped.json() == again
    assert dead_letters(service, row_id) == []
    assert error_code(service.delete(f"/dead-letters/{again['id']}"), 404) == "dead_letter_not_found"
    assert service.json(f"/rows/{row_id}")["status"] == "running"
    metrics = service.get("/metrics").text
    assert "greenrow_messages_dead_lettered_total 2.0" in metrics and "greenrow_dead_letters_deleted_total 1.0" in metrics


def test_a_caller_waiting_on_a_poison_message_gets_an_error_reply_naming_the_dead_letter(service):
    row_id = start_run(service, rows=1, start_value=100_000, tick_ms=1000)["first_row_id"]
    response = service.post(f"/rows/{row_id}/messages?wait=true&timeout_ms=20000", json={"type": "crash", "poison": 1})
    assert response.status_code == 200, response.text
    reply = response.json()["reply"]
    assert reply["error"]["code"] == "message_discarded" and reply["type"] == "crash"
    assert [letter["id"] for letter in dead_letters(service, row_id)] == [reply["dead_letter_id"]]


def test_a_message_whose_effect_can_never_be_applied_goes_to_the_dead_letters_at_once(service, db):
    row_id = start_run(service, rows=1, start_value=100_000, tick_ms=1000)["first_row_id"]
    # A message no API request can make (the API checks fields): what a bug or an old version might leave.
    db.fetch_all("INSERT INTO messages (row_id, shard, type, body) SELECT id, shard, 'set', %s FROM rows WHERE id = %s",
                 (json.dumps({"value": "ten"}), row_id))
    row = send(service, row_id, "get", wait=True)
    assert row["restarts"] == 0 and row["status"] == "running"
    [letter] = dead_letters(service, row_id)
    assert letter["type"] == "set" and letter["error"].startswith("ValueError: ")
    seen = counters(service)
    assert (seen["messages_discarded"], seen["messages_dead_lettered"]) == (1, 1)


def test_a_replay_into_a_full_inbox_gets_429_and_the_dead_letter_stays(make_service, db, database_url):
    service = make_service(env={"GREENROW_INBOX_MAX": "2"})
    row_id = start_run(service, rows=1, start_value=100_000, tick_ms=1000)["first_row_id"]
    [letter_id] = db.fetch_all("INSERT INTO dead_letters (row_id, shard, message_id, type, body, error, sent_at)"
                               " SELECT id, shard, 0, 'incr', '{\"by\": 5}', 'test', now() FROM rows WHERE id = %s"
                               " RETURNING id", (row_id,))[0]
    with row_locked(database_url, row_id):  # nothing is applied meanwhile: the inbox fills
        send(service, row_id, "incr", by=1)
        send(service, row_id, "incr", by=1)
        response = service.post(f"/dead-letters/{letter_id}/replay")
        assert error_code(response, 429) == "inbox_full" and response.headers["Retry-After"] == "1"
        assert [letter["id"] for letter in dead_letters(service, row_id)] == [letter_id]
    wait_until(lambda: service.json(f"/rows/{row_id}")["inbox"] == 0, 20)
    assert service.post(f"/dead-letters/{letter_id}/replay").status_code == 202
    row = wait_until(lambda: (seen := service.json(f"/rows/{row_id}"))["inbox"] == 0 and seen, 20)
    assert row["value"] + row["ticks"] == 100_007 and dead_letters(service, row_id) == []


def test_dead_letters_of_an_unknown_row_or_id_answer_404(service):
    assert error_code(service.get("/rows/999999/dead-letters"), 404) == "row_not_found"
    assert error_code(service.post("/dead-letters/999999/replay"), 404) == "dead_letter_not_found"
    assert error_code(service.delete("/dead-letters/999999"), 404) == "dead_letter_not_found"
    assert error_code(service.get("/rows/1/dead-letters?limit=0"), 400) == "invalid_parameter"
