"""The HTTP API's errors against the real service: every error code in its one JSON shape, never a 500.

Bad bodies, bad query parameters, what does not exist, wrong methods, sizes, media types, timeouts.
The tests share one service (and its database) started once for this module (the api fixture): none
of their bad messages may reach a row's inbox.
"""
import pytest

from tests.support.api import error_code, padded, post_raw, row, send
from tests.support.database import row_locked
from tests.support.stats import node_stats
from tests.support.wait import wait_until

MAX_BODY = 64 * 1024
MAX_ID = 2**63 - 1


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
    (b'{"rows": 1.5}', "invalid_field"),
    (b'{"rows": -0.5}', "invalid_field"),
    (b'{"rows": 1e-2}', "invalid_field"),
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
    (b'{"type": "set", "value": 1.5}', "invalid_field"),
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


def test_a_timeout_without_wait_answers_400_invalid_parameter_and_queues_nothing(api, untouched_row):
    for query in ("timeout_ms=10", "wait=false&timeout_ms=10", "wait=0&timeout_ms=5000"):
        response = api.post(f"/rows/{untouched_row}/messages?{query}", json={"type": "ping"})

        assert error_code(response, 400) == "invalid_parameter", query
        assert "timeout_ms is only taken with wait=true" in response.json()["error"]["message"]
    assert row(api, untouched_row)["inbox"] == 0


def _unknown_parameter_requests(finished_run, untouched_row):
    run_id = finished_run["id"]
    return [
        ("POST", "/runs?foo=1", {"rows": 1}),
        ("GET", "/runs?limit=5&foo=1", None),
        ("GET", f"/runs/{run_id}?foo=1", None),
        ("POST", f"/runs/{run_id}/stop?foo=1", None),
        ("GET", f"/rows/{untouched_row}?limit=1", None),
        ("POST", f"/rows/{untouched_row}/messages?wait=true&waitt=1", {"type": "ping"}),
        ("POST", f"/rows/{untouched_row}/messages?foo", {"type": "ping"}),
        ("GET", "/healthz?foo=1", None),
        ("GET", "/readyz?foo=1", None),
        ("GET", "/nodes?foo=1", None),
        ("GET", "/openapi.json?foo=1", None),
    ]


def test_an_unknown_query_parameter_answers_400_unknown_parameter_and_does_nothing(api, finished_run, untouched_row):
    run_ids_before = [run["id"] for run in api.json("/runs?limit=1000")["runs"]]

    for method, path, body in _unknown_parameter_requests(finished_run, untouched_row):
        response = api.http.request(method, api.url(path), json=body, timeout=30)

        assert error_code(response, 400) == "unknown_parameter", (method, path)
        message = response.json()["error"]["message"]
        assert message.startswith("unknown query parameter '") and "this request takes: " in message, message
    assert [run["id"] for run in api.json("/runs?limit=1000")["runs"]] == run_ids_before  # no run created
    assert row(api, untouched_row)["inbox"] == 0


def test_the_unknown_parameter_error_names_the_parameters_the_request_takes(api, untouched_row):
    messages = api.post(f"/rows/{untouched_row}/messages?foo=1", json={"type": "ping"}).json()["error"]["message"]
    runs = api.get("/runs?foo=1").json()["error"]["message"]
    health = api.get("/healthz?foo=1").json()["error"]["message"]

    assert messages == "unknown query parameter 'foo'; this request takes: wait, timeout_ms"
    assert runs == "unknown query parameter 'foo'; this request takes: limit"
    assert health == "unknown query parameter 'foo'; this request takes: none"


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
    ("DELETE", f"/runs/{MAX_ID + 1}", "not_found"),  # not a 405: werkzeug meets GET's rule first (service/errors.py)
    ("DELETE", "/runs/0", "not_found"),
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

    assert node_stats(api)["pending_calls"] == 0


WRONG_METHODS = [
    ("DELETE", "/runs", "GET"),
    ("PUT", "/runs/1", "GET"),
    ("DELETE", "/runs/1/stop", "POST"),
    ("GET", "/runs/1/stop", "POST"),
    ("GET", "/rows/1/messages", "POST"),
    ("POST", "/rows/1", "GET"),
    ("PATCH", "/rows/1", "GET"),
    ("POST", "/healthz", "GET"),
    ("POST", "/readyz", "GET"),
    ("POST", "/nodes", "GET"),
    ("DELETE", "/metrics", "GET"),
    ("POST", "/stats", "GET"),
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
    figures = node_stats(api)
    assert figures["counters"]["calls_timed_out"] >= 1 and figures["pending_calls"] == 0
    assert figures["messages"]["set"]["timed_out"] >= 1
