"""The service's own endpoints (health, readiness, nodes, metrics, its OpenAPI document), and the API
without its database.

The endpoint tests share one service started once for this module (the api fixture); the others start
a service of their own (unready: its database does not exist).
"""
import json

import pytest

from service.openapi import DOCUMENT
from tests.support.api import JSON, assert_shape, error_code
from tests.support.service import start_run
from tests.support.wait import wait_until

# --- the service's own endpoints ------------------------------------------------------------------------

def test_healthz_and_readyz_answer_200_naming_the_node(api, node_id):
    assert api.json("/healthz") == {"status": "ok", "node": node_id}
    assert api.json("/readyz") == {"status": "ready", "node": node_id}
    assert isinstance(node_id, str) and node_id


def test_nodes_lists_this_node_with_every_shard(api, node_id):
    nodes = api.json("/nodes")

    assert set(nodes) == {"nodes"}
    [node] = nodes["nodes"]
    assert_shape(node, "Node")
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


def test_without_its_database_the_503_says_what_is_unavailable_and_the_log_says_why(unready):
    """A client learns that the database is unreachable, never the database's error (its name, host, user):
    the operator finds that in the log."""
    response = unready.post("/runs", json={"rows": 1})
    message = response.json()["error"]["message"]
    assert error_code(response, 503) == "unavailable"
    assert "the database could not answer: the database is unreachable" in message, message
    assert "greenrow_missing" not in message and "does not exist" not in message, message
    wait_until(lambda: "does not exist" in unready.log(), 5, message="the log never said why")


def test_a_dropped_database_connection_is_answered_503_or_retried_never_500(service, db):
    start_run(service, rows=1, start_value=1, tick_ms=50)
    for _ in range(3):
        service.json("/runs")
    terminated = db.fetch_all("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                              " WHERE datname = current_database() AND application_name LIKE 'greenrow %'")
    assert terminated

    answers = [(path, service.get(path).status_code) for path in ("/runs", "/rows/1", "/runs/1", "/nodes") * 3]

    assert {status for _, status in answers} <= {200, 503}, answers
