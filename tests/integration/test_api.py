"""The HTTP API against the real service: every endpoint's answer, every error code, never a 500.

Most tests share one service (and its database) started once for this module: they read, or touch
rows nobody else uses. Tests that need a service of their own (no database, a row left broken)
start one.
"""
import json
import time
import uuid
from contextlib import contextmanager

import psycopg2
import pytest

from greenlets.messages import TYPES as MESSAGE_TYPES
from service.openapi import DOCUMENT
from tests.support.database import Db, with_database
from tests.support.service import ServiceProcess, start_run, wait_for_run
from tests.support.wait import wait_until

JSON = "application/json"
MAX_BODY = 64 * 1024
MAX_ID = 2**63 - 1
SCHEMAS = DOCUMENT["components"]["schemas"]
DEFAULTS = {"start_value": 3, "step": 1, "tick_ms": 1000, "scan_ms": 2000, "max_concurrency": 10_000}
FINISHED_ROWS = 24


# --- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api_database(pg_server):
    name, url = pg_server.create_database()
    yield url
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def api(api_database, tmp_path_factory):
    """One service for the module's tests."""
    service = ServiceProcess(api_database, tmp_path_factory.mktemp("api") / "service.log")
    try:
        yield service.start()
    finally:
        service.close()


@pytest.fixture(scope="module")
def api_db(api_database):
    return Db(api_database)


@pytest.fixture(scope="module")
def node_id(api):
    return api.json("/healthz")["node"]


@pytest.fixture(scope="module")
def finished_run(api):
    """A done run whose rows (value 0, no live server) the tests below take one each."""
    run = start_run(api, rows=FINISHED_ROWS, start_value=1, tick_ms=50)
    return wait_for_run(api, run["id"], timeout=15)


@pytest.fixture(scope="module")
def spare_rows(finished_run):
    return iter(range(finished_run["first_row_id"], finished_run["last_row_id"]))  # the last one is untouched_row


@pytest.fixture
def idle_row(spare_rows):
    """The id of a row of a finished run that no other test touches: no ticks, so values are exact."""
    return next(spare_rows)


@pytest.fixture(scope="module")
def untouched_row(finished_run):
    """A row the error tests send bad messages to: none may ever reach its inbox."""
    return finished_run["last_row_id"]


@pytest.fixture(scope="module")
def unready(pg_server, tmp_path_factory):
    """A service whose DATABASE_URL names a database that does not exist."""
    missing = with_database(pg_server.admin_url, f"greenrow_missing_{uuid.uuid4().hex[:12]}")
    service = ServiceProcess(missing, tmp_path_factory.mktemp("unready") / "service.log")
    try:
        service.start(wait_ready=False)
        wait_until(lambda: _answers(service), 30, message="the service without a database never answered")
        yield service
    finally:
        service.close()


def _answers(service):
    try:
        return service.get("/healthz", timeout=2).status_code == 200
    except OSError:
        return False


# --- helpers ------------------------------------------------------------------------------------------

def post_raw(service, path, data, content_type=JSON, **kwargs):
    headers = {"Content-Type": content_type} if content_type else {}
    return service.http.post(service.url(path), data=data, headers=headers, timeout=30, **kwargs)


def send(service, row_id, message, wait=False, timeout_ms=None):
    query = []
    if wait:
        query.append("wait=true")
    if timeout_ms is not None:
        query.append(f"timeout_ms={timeout_ms}")
    return service.post(f"/rows/{row_id}/messages" + ("?" + "&".join(query) if query else ""), json=message)


def call(service, row_id, message, timeout_ms=5000):
    """A call that must be answered: the row server's reply."""
    response = send(service, row_id, message, wait=True, timeout_ms=timeout_ms)
    assert response.status_code == 200, (message, response.status_code, response.text)
    body = response.json()
    assert set(body) == {"message_id", "reply"} and isinstance(body["message_id"], int)
    assert set(body["reply"]) == set(SCHEMAS["Row"]["properties"]) | {"type"}, body
    return body["reply"]


def error_code(response, status, extra=()):
    """The code of an error answer, after checking its status and its one JSON shape."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"] == JSON
    body = response.json()
    assert set(body) == {"error", *extra}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert "Traceback" not in response.text
    return body["error"]["code"]


def assert_shape(body, schema_name):
    """body has exactly the properties of a closed schema of the OpenAPI document."""
    assert set(body) == set(SCHEMAS[schema_name]["properties"]), (schema_name, body)


def assert_holds(predicate, seconds, interval=0.05):
    """predicate stays true for the whole period (an assertion over time, not a wait for something)."""
    deadline = time.monotonic() + seconds
    while True:
        assert predicate()
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


@contextmanager
def row_locked(database_url, row_id):
    """Hold a row's lock in a transaction of our own: its server cannot apply a message meanwhile."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM rows WHERE id = %s FOR NO KEY UPDATE", (row_id,))  # inserts still pass
        yield
    finally:
        conn.rollback()
        conn.close()


def row(service, row_id):
    return service.json(f"/rows/{row_id}")


def padded(document, size):
    """document as JSON, padded with spaces to exactly size bytes."""
    raw = json.dumps(document).encode()
    return raw + b" " * (size - len(raw))


# --- runs -----------------------------------------------------------------------------------------------

def test_creating_a_run_answers_201_with_its_location_and_every_default_filled_in(api, api_db):
    response = api.post("/runs", json={"rows": 3})

    assert response.status_code == 201, response.text
    run = response.json()
    assert_shape(run, "Run")
    assert response.headers["Location"] == f"/runs/{run['id']}"
    assert {name: run[name] for name in DEFAULTS} == DEFAULTS
    assert run["rows"] == 3 and run["status"] == "running" and run["finished_at"] is None
    assert run["last_row_id"] - run["first_row_id"] == 2
    assert run["pending"] + run["active"] == 3
    assert run["done"] == run["idle"] == run["failed"] == run["ticks"] == run["restarts"] == 0
    assert api.json(response.headers["Location"])["id"] == run["id"]
    stored = api_db.fetch_all("SELECT id, value FROM rows WHERE run_id = %s ORDER BY id", (run["id"],))
    assert stored == [(row_id, 3) for row_id in range(run["first_row_id"], run["last_row_id"] + 1)]

    api.post(f"/runs/{run['id']}/stop")


def test_a_run_with_every_field_given_keeps_them(api):
    fields = {"rows": 2, "start_value": 2, "step": 2, "tick_ms": 50, "scan_ms": 100, "max_concurrency": 1}

    run = start_run(api, **fields)
    done = wait_for_run(api, run["id"], timeout=15)

    assert {name: run[name] for name in fields} == fields
    assert done["done"] == 2 and done["ticks"] == 2 and done["finished_at"] is not None


def test_listing_runs_shows_the_most_recent_first_and_honours_limit(api):
    created = [start_run(api, rows=1, start_value=1, tick_ms=50)["id"] for _ in range(3)]

    listed = api.json("/runs")["runs"]
    limited = api.json("/runs?limit=2")["runs"]

    ids = [run["id"] for run in listed]
    assert ids == sorted(ids, reverse=True) and ids[:3] == created[::-1]
    assert [run["id"] for run in limited] == created[:0:-1]
    for run in listed:
        assert_shape(run, "Run")
    assert len(api.json("/runs?limit=1")["runs"]) == 1
    everything = api.json("/runs?limit=1000")["runs"]
    assert len(listed) == min(20, len(everything)) and [run["id"] for run in everything][:len(ids)] == ids


def test_getting_a_finished_run_shows_its_counts(api, finished_run):
    run = api.json(f"/runs/{finished_run['id']}")

    assert_shape(run, "Run")
    assert run["status"] == "done" and run["finished_at"] is not None and run["elapsed_s"] > 0
    assert run["ticks"] == FINISHED_ROWS and run["pending"] == run["active"] == 0
    assert run in api.json("/runs?limit=1000")["runs"]


def test_stop_leaves_values_as_they_are_and_a_second_stop_changes_nothing(api, api_db):
    run = start_run(api, rows=4, start_value=1000, tick_ms=50)
    wait_until(lambda: api.json(f"/runs/{run['id']}")["ticks"] >= 8, 10)

    first = api.post(f"/runs/{run['id']}/stop")

    assert first.status_code == 200, first.text
    stopped = first.json()
    assert_shape(stopped, "Run")
    assert stopped["status"] == "stopped" and stopped["finished_at"] is not None
    assert stopped["idle"] == 4 and stopped["pending"] == stopped["active"] == stopped["done"] == 0
    rows = range(run["first_row_id"], run["last_row_id"] + 1)
    wait_until(lambda: all(row(api, row_id)["node"] is None for row_id in rows), 10)
    stored = "SELECT id, value, ticks FROM rows WHERE run_id = %s ORDER BY id"
    values = api_db.fetch_all(stored, (run["id"],))
    assert all(0 < value < 1000 for _, value, _ in values)
    assert sum(ticks for _, _, ticks in values) == stopped["ticks"]
    assert [row(api, row_id)["status"] for row_id in rows] == ["idle"] * 4
    assert_holds(lambda: api_db.fetch_all(stored, (run["id"],)) == values, seconds=0.4)  # 8 tick periods

    second = api.post(f"/runs/{run['id']}/stop", json={})

    assert second.status_code == 200, second.text
    assert second.json() == stopped


def test_stopping_a_done_run_changes_nothing(api, finished_run):
    response = api.post(f"/runs/{finished_run['id']}/stop")

    assert response.status_code == 200
    assert response.json() == api.json(f"/runs/{finished_run['id']}")
    assert response.json()["status"] == "done"


# --- rows and messages -------------------------------------------------------------------------------

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
    assert api.post(f"/rows/{idle_row}/messages?timeout_ms=10", json={"type": "ping"}).status_code == 202


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


# --- the other endpoints ----------------------------------------------------------------------------------

def test_healthz_and_readyz_answer_200_naming_the_node(api, node_id):
    assert api.json("/healthz") == {"status": "ok", "node": node_id}
    assert api.json("/readyz") == {"status": "ready", "node": node_id}
    assert isinstance(node_id, str) and node_id


def test_nodes_lists_this_node_with_every_shard(api, node_id):
    nodes = api.json("/nodes")

    assert set(nodes) == {"nodes"}
    [node] = nodes["nodes"]
    assert set(node) == {"id", "host", "pid", "started_at", "row_servers", "heartbeat_age_s", "shards"}
    assert node["id"] == node_id and node["shards"] == 256 and node["heartbeat_age_s"] >= 0


def test_metrics_shows_this_nodes_telemetry(api, node_id):
    metrics = api.json("/metrics")

    assert {"node", "running", "uptime_s", "row_servers", "monitors", "pending_calls", "shards_held", "pool",
            "rss_bytes", "cpu_s", "counters", "tick_lateness", "tick_commit", "tick_batch_rows"} <= set(metrics)
    assert metrics["node"] == node_id and metrics["running"] is True and metrics["shards_held"] == 256
    assert set(metrics["pool"]) == {"size", "open", "idle", "waiting"}
    assert {"ticks_committed", "messages_accepted", "messages_applied", "calls_timed_out", "row_servers_started",
            "row_restarts", "runs_created", "runs_finished", "runs_stopped"} <= set(metrics["counters"])
    assert set(metrics["tick_commit"]) == {"count", "mean_ms", "p50_ms", "p99_ms", "max_ms"}


def test_openapi_json_serves_the_document(api):
    response = api.get("/openapi.json")

    assert response.status_code == 200 and response.headers["Content-Type"] == JSON
    assert response.json() == json.loads(json.dumps(DOCUMENT))


# --- errors: bodies -----------------------------------------------------------------------------------

DEEP_ARRAY = b"[" * 30_000 + b"]" * 30_000
DEEP_OBJECT = b'{"rows": ' + b'{"a": ' * 9000 + b"1" + b"}" * 9000 + b"}"

BAD_RUN_BODIES = [
    (b"{", "invalid_json"),
    (b'{"rows": 1,}', "invalid_json"),
    (b"{'rows': 1}", "invalid_json"),
    (b"   ", "invalid_json"),
    (b'{"rows": NaN}', "invalid_json"),
    (b'{"rows": Infinity}', "invalid_json"),
    (b'{"rows": -Infinity}', "invalid_json"),
    (b'{"rows": "\xff"}', "invalid_json"),
    (b"\xff\xfe\x00", "invalid_json"),
    (DEEP_ARRAY, "invalid_json"),
    (DEEP_OBJECT, "invalid_json"),
    (b"null", "invalid_body"),
    (b"[]", "invalid_body"),
    (b'[{"rows": 1}]', "invalid_body"),
    (b'"rows"', "invalid_body"),
    (b"42", "invalid_body"),
    (b"true", "invalid_body"),
    (b"{}", "missing_field"),
    (b"", "missing_field"),
    (b'{"start_value": 3}', "missing_field"),
    (b'{"rows": 1, "colour": "green"}', "unknown_field"),
    (b'{"rows": 1, "": 1}', "unknown_field"),
    (b'{"rows": 1, "\\u0000": 1}', "unknown_field"),
    (b'{"rows": 1, "\\ud800": 1}', "unknown_field"),
    (b'{"rows": 1, "' + b"k" * 5000 + b'": 1}', "unknown_field"),
    (b'{"rows": true}', "invalid_field"),
    (b'{"rows": false}', "invalid_field"),
    (b'{"rows": 1.0}', "invalid_field"),
    (b'{"rows": 1.5}', "invalid_field"),
    (b'{"rows": 1e2}', "invalid_field"),
    (b'{"rows": 1e999}', "invalid_field"),
    (b'{"rows": "5"}', "invalid_field"),
    (b'{"rows": "\\ud800"}', "invalid_field"),
    (b'{"rows": null}', "invalid_field"),
    (b'{"rows": [1]}', "invalid_field"),
    (b'{"rows": {"n": 1}}', "invalid_field"),
    (b'{"rows": 0}', "invalid_field"),
    (b'{"rows": -1}', "invalid_field"),
    (b'{"rows": 1000001}', "invalid_field"),
    (b'{"rows": 99999999999999999999999999999}', "invalid_field"),
    (b'{"rows": 1' + b"0" * 5000 + b"}", "invalid_field"),
    (b'{"rows": -1' + b"0" * 5000 + b"}", "invalid_field"),
    (b'{"rows": 1, "rows": true}', "invalid_field"),
    (b'{"rows": 1, "start_value": 0}', "invalid_field"),
    (b'{"rows": 1, "step": 1000001}', "invalid_field"),
    (b'{"rows": 1, "tick_ms": 9}', "invalid_field"),
    (b'{"rows": 1, "scan_ms": 3600001}', "invalid_field"),
    (b'{"rows": 1, "max_concurrency": 0}', "invalid_field"),
    (b'{"rows": 1, "tick_ms": null}', "invalid_field"),
]

BAD_MESSAGE_BODIES = [
    (b'{"type": "ping"', "invalid_json"),
    (b'{"type": "set", "value": NaN}', "invalid_json"),
    (DEEP_ARRAY, "invalid_json"),
    (b'[{"type": "ping"}]', "invalid_body"),
    (b'"ping"', "invalid_body"),
    (b"null", "invalid_body"),
    (b"", "missing_field"),
    (b"{}", "missing_field"),
    (b'{"type": "set"}', "missing_field"),
    (b'{"type": "incr"}', "missing_field"),
    (b'{"value": 1}', "missing_field"),
    (b'{"type": null}', "invalid_field"),
    (b'{"type": 1}', "invalid_field"),
    (b'{"type": true}', "invalid_field"),
    (b'{"type": ["ping"]}', "invalid_field"),
    (b'{"type": {"ping": 1}}', "invalid_field"),
    (b'{"type": "explode"}', "unknown_message_type"),
    (b'{"type": "PING"}', "unknown_message_type"),
    (b'{"type": ""}', "unknown_message_type"),
    (b'{"type": "\\ud800"}', "unknown_message_type"),
    (b'{"type": "' + b"x" * 10_000 + b'"}', "unknown_message_type"),
    (b'{"type": "ping", "value": 1}', "unknown_field"),
    (b'{"type": "incr", "value": 1}', "unknown_field"),
    (b'{"type": "set", "value": 1, "by": 1}', "unknown_field"),
    (b'{"type": "set", "value": -1}', "invalid_field"),
    (b'{"type": "set", "value": 1000000001}', "invalid_field"),
    (b'{"type": "set", "value": true}', "invalid_field"),
    (b'{"type": "set", "value": 1.0}', "invalid_field"),
    (b'{"type": "set", "value": "5"}', "invalid_field"),
    (b'{"type": "set", "value": null}', "invalid_field"),
    (b'{"type": "set", "value": {"v": 1}}', "invalid_field"),
    (b'{"type": "incr", "by": 1e400}', "invalid_field"),
    (b'{"type": "incr", "by": -1000000001}', "invalid_field"),
    (b'{"type": "incr", "by": [1]}', "invalid_field"),
    (b'{"type": "incr", "by": 1' + b"0" * 5000 + b"}", "invalid_field"),
]


def _ids(table):
    return [body[:40].decode("ascii", "replace") + (f"...({len(body)} bytes)" if len(body) > 40 else "")
            for body, _ in table]


@pytest.mark.parametrize("body, code", BAD_RUN_BODIES, ids=_ids(BAD_RUN_BODIES))
def test_a_bad_run_body_answers_400_with_its_code(api, body, code):
    assert error_code(post_raw(api, "/runs", body), 400) == code


@pytest.mark.parametrize("body, code", BAD_MESSAGE_BODIES, ids=_ids(BAD_MESSAGE_BODIES))
def test_a_bad_message_answers_400_with_its_code_and_queues_nothing(api, untouched_row, body, code):
    response = post_raw(api, f"/rows/{untouched_row}/messages?wait=true", body)

    assert error_code(response, 400) == code
    assert len(response.json()["error"]["message"]) < 300
    assert row(api, untouched_row)["inbox"] == 0


def test_bad_bodies_created_no_run_and_queued_no_message(api_db, untouched_row):
    assert api_db.fetch_value("SELECT count(*) FROM runs WHERE rows > 1000000 OR tick_ms < 10") == 0
    assert api_db.fetch_value("SELECT count(*) FROM messages WHERE row_id = %s", (untouched_row,)) == 0


def test_a_stop_takes_no_body_but_an_empty_object(api, finished_run):
    path = f"/runs/{finished_run['id']}/stop"

    assert error_code(post_raw(api, path, b'{"now": true}'), 400) == "unknown_field"
    assert error_code(post_raw(api, path, b"[]"), 400) == "invalid_body"
    assert error_code(post_raw(api, path, b"{"), 400) == "invalid_json"
    assert post_raw(api, path, b"{}").status_code == 200
    assert post_raw(api, path, b"", content_type=None).status_code == 200


# --- errors: query parameters ------------------------------------------------------------------------

BAD_LIMITS = ["0", "1001", "-1", "abc", "", "1.5", "+5", "%205", "1_0", "0x10", "%EF%BC%95", "99999999999", "5%00"]
BAD_CALL_QUERIES = [
    "wait=maybe", "wait=", "wait=yes", "wait=true&wait=false", "wait=%00",
    "wait=true&timeout_ms=0", "wait=true&timeout_ms=60001", "wait=true&timeout_ms=abc",
    "wait=true&timeout_ms=-5", "wait=true&timeout_ms=", "wait=true&timeout_ms=1&timeout_ms=2",
    "wait=true&timeout_ms=%D9%A3",
]


@pytest.mark.parametrize("limit", BAD_LIMITS)
def test_a_bad_limit_answers_400_invalid_parameter(api, limit):
    response = api.get(f"/runs?limit={limit}")

    assert error_code(response, 400) == "invalid_parameter"
    assert "limit" in response.json()["error"]["message"]


def test_a_limit_given_twice_answers_400_invalid_parameter(api):
    assert error_code(api.get("/runs?limit=1&limit=2"), 400) == "invalid_parameter"


@pytest.mark.parametrize("query", BAD_CALL_QUERIES)
def test_a_bad_wait_or_timeout_answers_400_invalid_parameter_and_queues_nothing(api, untouched_row, query):
    response = api.post(f"/rows/{untouched_row}/messages?{query}", json={"type": "ping"})

    assert error_code(response, 400) == "invalid_parameter"
    assert row(api, untouched_row)["inbox"] == 0


# --- errors: routes, methods, sizes, media types ----------------------------------------------------------

NOT_FOUND = [
    ("GET", "/nope", "not_found"),
    ("GET", "/runs/", "not_found"),
    ("GET", "/runs/abc", "not_found"),
    ("GET", "/runs/1.5", "not_found"),
    ("GET", "/runs/-1", "not_found"),
    ("GET", "/runs/%EF%BC%91", "not_found"),
    ("GET", "/runs/1/rows", "not_found"),
    ("GET", "/runs/0", "not_found"),
    ("GET", "/rows/0", "not_found"),
    ("POST", "/rows/0/messages", "not_found"),
    ("POST", "/runs/0/stop", "not_found"),
    ("GET", f"/runs/{MAX_ID + 1}", "not_found"),
    ("GET", f"/rows/{MAX_ID + 1}", "not_found"),
    ("GET", "/rows/99999999999999999999", "not_found"),
    ("GET", "/rows/" + "9" * 1000, "not_found"),
    ("GET", f"/runs/{MAX_ID}", "run_not_found"),
    ("GET", "/runs/999999", "run_not_found"),
    ("POST", "/runs/999999/stop", "run_not_found"),
    ("GET", f"/rows/{MAX_ID}", "row_not_found"),
    ("GET", "/rows/999999", "row_not_found"),
    ("POST", "/rows/999999/messages", "row_not_found"),
    ("POST", f"/rows/{MAX_ID}/messages?wait=true", "row_not_found"),
]


@pytest.mark.parametrize("method, path, code", NOT_FOUND, ids=[f"{m} {p[:40]}" for m, p, _ in NOT_FOUND])
def test_what_does_not_exist_answers_404_with_its_code(api, method, path, code):
    response = api.http.request(method, api.url(path), json={"type": "ping"} if "/messages" in path else None,
                                timeout=30)

    assert error_code(response, 404) == code


def test_a_call_to_a_row_that_does_not_exist_leaves_no_caller_waiting(api):
    assert error_code(api.post("/rows/999999/messages?wait=true", json={"type": "get"}), 404) == "row_not_found"

    assert api.json("/metrics")["pending_calls"] == 0


WRONG_METHODS = [
    ("DELETE", "/runs", "GET"),
    ("PUT", "/runs/1", "GET"),
    ("DELETE", "/runs/1", "GET"),
    ("GET", "/runs/1/stop", "POST"),
    ("GET", "/rows/1/messages", "POST"),
    ("POST", "/rows/1", "GET"),
    ("PATCH", "/rows/1", "GET"),
    ("POST", "/healthz", "GET"),
    ("POST", "/readyz", "GET"),
    ("POST", "/nodes", "GET"),
    ("DELETE", "/metrics", "GET"),
    ("PUT", "/openapi.json", "GET"),
]


@pytest.mark.parametrize("method, path, allowed", WRONG_METHODS, ids=[f"{m} {p}" for m, p, _ in WRONG_METHODS])
def test_a_wrong_method_answers_405_with_the_allowed_ones(api, method, path, allowed):
    response = api.http.request(method, api.url(path), timeout=30)

    assert error_code(response, 405) == "method_not_allowed"
    assert allowed in response.headers["Allow"]


def test_a_body_over_64_kib_answers_413(api, finished_run, untouched_row):
    too_big = padded({"rows": 1}, MAX_BODY + 1)

    assert error_code(post_raw(api, "/runs", too_big), 413) == "payload_too_large"
    assert error_code(post_raw(api, f"/rows/{untouched_row}/messages", too_big), 413) == "payload_too_large"
    assert error_code(post_raw(api, f"/runs/{finished_run['id']}/stop", too_big), 413) == "payload_too_large"
    assert row(api, untouched_row)["inbox"] == 0


def test_a_body_of_exactly_64_kib_is_accepted(api, idle_row):
    response = post_raw(api, f"/rows/{idle_row}/messages", padded({"type": "set", "value": 3}, MAX_BODY))

    assert response.status_code == 202, response.text
    wait_until(lambda: row(api, idle_row)["value"] == 3, 10)


def test_a_chunked_body_over_64_kib_answers_413_rather_than_being_cut_short(api, idle_row):
    body = padded({"type": "set", "value": 5}, MAX_BODY + 10_000)
    chunks = iter([body[i:i + 8192] for i in range(0, len(body), 8192)])  # no Content-Length: chunked

    response = post_raw(api, f"/rows/{idle_row}/messages", chunks)

    assert error_code(response, 413) == "payload_too_large"
    assert row(api, idle_row)["inbox"] == 0 and row(api, idle_row)["value"] == 0


def test_a_small_chunked_body_is_read_whole(api, idle_row):
    response = post_raw(api, f"/rows/{idle_row}/messages?wait=true", iter([b'{"type": "set",', b' "value": 4}']))

    assert response.status_code == 200, response.text
    assert response.json()["reply"]["value"] == 4


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/jsonp", "application/merge-patch+json", "multipart/form-data"])
def test_a_body_that_is_not_declared_json_answers_415(api, finished_run, untouched_row, content_type):
    for path, body in (("/runs", b'{"rows": 1}'), (f"/rows/{untouched_row}/messages", b'{"type": "ping"}'),
                       (f"/runs/{finished_run['id']}/stop", b"{}")):
        response = post_raw(api, path, body, content_type=content_type)
        assert error_code(response, 415) == "unsupported_media_type", path
    assert row(api, untouched_row)["inbox"] == 0


def test_json_with_a_charset_is_accepted(api, idle_row):
    response = post_raw(api, f"/rows/{idle_row}/messages", b'{"type": "ping"}', "application/json; charset=utf-8")

    assert response.status_code == 202, response.text


def test_a_call_without_a_reply_in_timeout_ms_answers_504_and_its_message_is_still_applied(
        api, api_database, idle_row):
    with row_locked(api_database, idle_row):  # the row server's transaction waits for the lock
        response = send(api, idle_row, {"type": "set", "value": 101}, wait=True, timeout_ms=1)

        assert error_code(response, 504, extra=("message_id",)) == "timeout"
        message_id = response.json()["message_id"]
        assert isinstance(message_id, int) and str(message_id) in response.json()["error"]["message"]
        assert row(api, idle_row)["value"] == 0

    wait_until(lambda: (shown := row(api, idle_row))["value"] == 101 and shown["inbox"] == 0, 10)
    metrics = api.json("/metrics")
    assert metrics["counters"]["calls_timed_out"] >= 1 and metrics["pending_calls"] == 0


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


# --- without a database ---------------------------------------------------------------------------------

UNREADY_REQUESTS = [
    ("GET", "/readyz", None),
    ("POST", "/runs", {"rows": 1}),
    ("GET", "/runs", None),
    ("GET", "/runs/1", None),
    ("POST", "/runs/1/stop", None),
    ("GET", "/rows/1", None),
    ("POST", "/rows/1/messages", {"type": "ping"}),
    ("POST", "/rows/1/messages?wait=true", {"type": "ping"}),
    ("GET", "/nodes", None),
]


def test_without_its_database_the_service_is_alive(unready):
    assert unready.json("/healthz")["status"] == "ok"
    assert unready.json("/openapi.json") == json.loads(json.dumps(DOCUMENT))
    assert unready.get("/metrics").status_code in (200, 503)


@pytest.mark.parametrize("method, path, body", UNREADY_REQUESTS, ids=[f"{m} {p}" for m, p, _ in UNREADY_REQUESTS])
def test_without_its_database_work_is_refused_with_503_unavailable(unready, method, path, body):
    response = unready.http.request(method, unready.url(path), json=body, timeout=30)

    assert error_code(response, 503) == "unavailable"


def test_without_its_database_bad_input_is_still_answered_400(unready):
    assert error_code(unready.post("/runs", json={"rows": 0}), 400) == "invalid_field"
    assert error_code(unready.get("/runs?limit=0"), 400) == "invalid_parameter"


def test_without_its_database_the_503_says_why(unready):
    def refusal():
        response = unready.post("/runs", json={"rows": 1})
        assert error_code(response, 503) == "unavailable"
        return "does not exist" in response.json()["error"]["message"]

    wait_until(refusal, 5, message="POST /runs never answered 503 naming the missing database")


def test_a_dropped_database_connection_is_answered_503_or_retried_never_500(service, db):
    start_run(service, rows=1, start_value=1, tick_ms=50)
    for _ in range(3):
        service.json("/runs")
    terminated = db.fetch_all("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                              " WHERE datname = current_database() AND application_name LIKE 'greenrow %'")
    assert terminated

    answers = [(path, service.get(path).status_code) for path in ("/runs", "/rows/1", "/runs/1", "/nodes") * 3]

    assert {status for _, status in answers} <= {200, 503}, answers


# --- last: nothing above was answered with a 500 ---------------------------------------------------------

def test_no_request_to_the_shared_service_was_answered_with_an_internal_error(api):
    assert "unhandled" not in api.log()
