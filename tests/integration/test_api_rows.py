"""The HTTP API's /rows against the real service: a row as shown, messages cast and called.

Most tests share one service (and its database) started once for this module (the api fixture): they
read, or touch rows nobody else uses. The test that may leave a row broken starts a service of its own.
"""
from greenlets.rows.messages import TYPES as MESSAGE_TYPES
from tests.support.api import assert_shape, call, row, send
from tests.support.service import start_run, wait_for_run
from tests.support.wait import assert_holds, wait_until


def test_a_row_shows_every_field(api, finished_run, idle_row):
    shown = row(api, idle_row)

    assert_shape(shown, "Row")
    assert shown == {
        "id": idle_row, "run_id": finished_run["id"], "value": 0, "status": "done", "paused": False,
        "node": None, "inbox": 0, "restarts": 0, "ticks": 1, "last_tick_at": shown["last_tick_at"],
    }
    assert isinstance(shown["last_tick_at"], str)


def test_a_live_row_names_the_node_running_its_server(api, node_id):
    run = start_run(api, rows=1, start_value=1_000_000, tick_ms=100)
    row_id = run["first_row_id"]

    live = wait_until(lambda: (shown := row(api, row_id))["status"] == "running" and shown, 10)

    assert live["node"] == node_id and live["run_id"] == run["id"]
    api.post(f"/runs/{run['id']}/stop")


def test_every_message_type_is_accepted_as_a_cast_with_202_and_a_message_id(api, idle_row):
    messages = [{"type": "ping"}, {"type": "get"}, {"type": "set", "value": 10}, {"type": "incr", "by": 5},
                {"type": "pause"}, {"type": "resume"}, {"type": "stop"}, {"type": "crash"}]
    assert {message["type"] for message in messages} == set(MESSAGE_TYPES)

    responses = [send(api, idle_row, message) for message in messages]

    for response in responses:
        assert response.status_code == 202, response.text
        assert_shape(response.json(), "MessageAccepted")
    ids = [response.json()["message_id"] for response in responses]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    final = wait_until(lambda: (shown := row(api, idle_row))["inbox"] == 0 and shown["restarts"] == 1 and shown, 10)
    assert (final["value"], final["status"], final["paused"]) == (15, "idle", False)


def test_a_call_answers_200_with_the_row_servers_reply(api, idle_row, node_id):
    pong = call(api, idle_row, {"type": "ping"})
    assert (pong["type"], pong["id"], pong["value"], pong["node"]) == ("pong", idle_row, 0, node_id)
    assert call(api, idle_row, {"type": "get"})["type"] == "get"

    assert call(api, idle_row, {"type": "set", "value": 10})["value"] == 10
    assert call(api, idle_row, {"type": "incr", "by": 5})["value"] == 15
    assert call(api, idle_row, {"type": "incr", "by": -4})["value"] == 11
    assert call(api, idle_row, {"type": "get"})["value"] == 11
    paused = call(api, idle_row, {"type": "pause"})
    assert (paused["status"], paused["paused"]) == ("paused", True)
    resumed = call(api, idle_row, {"type": "resume"})
    assert (resumed["status"], resumed["paused"]) == ("idle", False)  # its run is over: nothing to resume
    assert call(api, idle_row, {"type": "stop"})["status"] == "idle"
    emptied = call(api, idle_row, {"type": "incr", "by": -1_000_000_000})
    assert (emptied["value"], emptied["status"]) == (0, "done")
    assert call(api, idle_row, {"type": "crash"})["type"] == "crash"
    wait_until(lambda: row(api, idle_row)["restarts"] == 1, 10)
    assert call(api, idle_row, {"type": "set", "value": 7})["value"] == 7


def test_every_spelling_of_wait_is_understood(api, idle_row):
    for spelling, status in (("true", 200), ("TRUE", 200), ("1", 200), ("false", 202), ("0", 202)):
        response = api.post(f"/rows/{idle_row}/messages?wait={spelling}", json={"type": "ping"})
        assert response.status_code == status, (spelling, response.text)


def test_pause_resume_and_stop_steer_a_running_row(api):
    run = start_run(api, rows=1, start_value=1_000_000, tick_ms=50)
    row_id = run["first_row_id"]
    wait_until(lambda: row(api, row_id)["ticks"] >= 2, 10)

    paused = call(api, row_id, {"type": "pause"})

    assert (paused["status"], paused["paused"]) == ("paused", True)
    assert_holds(lambda: row(api, row_id)["ticks"] == paused["ticks"], seconds=0.3)
    assert call(api, row_id, {"type": "ping"})["status"] == "paused"  # a paused row still answers

    resumed = call(api, row_id, {"type": "resume"})

    assert (resumed["status"], resumed["paused"]) == ("running", False)
    wait_until(lambda: row(api, row_id)["ticks"] >= resumed["ticks"] + 2, 10)

    stopped = call(api, row_id, {"type": "stop"})

    assert stopped["status"] == "idle"
    wait_until(lambda: row(api, row_id)["node"] is None, 10)
    assert_holds(lambda: row(api, row_id)["value"] == stopped["value"], seconds=0.3)
    api.post(f"/runs/{run['id']}/stop")


# --- a row's value stays in range ---------------------------------------------------------------------------

def test_incr_past_the_largest_value_does_not_poison_the_row(service):
    run = start_run(service, rows=1, start_value=1, tick_ms=50)
    wait_for_run(service, run["id"], timeout=15)
    row_id = run["first_row_id"]
    assert call(service, row_id, {"type": "set", "value": 1_000_000_000})["value"] == 1_000_000_000
    assert call(service, row_id, {"type": "incr", "by": 1_000_000_000})["value"] == 2_000_000_000

    response = send(service, row_id, {"type": "incr", "by": 1_000_000_000}, wait=True, timeout_ms=2000)

    assert response.status_code in (200, 400), response.text  # applied (clamped), or refused: never stuck
    shown = row(service, row_id)
    assert shown["status"] != "failed" and shown["inbox"] == 0
    assert call(service, row_id, {"type": "get"}, timeout_ms=2000)["value"] >= 2_000_000_000
