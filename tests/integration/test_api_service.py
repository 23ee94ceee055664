"""The service's own endpoints (health, readiness, nodes, metrics, stats, its OpenAPI document), and the
API without its database.

The endpoint tests share one service started once for this module (the api fixture); the others start
a service of their own (unready: its database does not exist).
"""
import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.openapi import DOCUMENT
from tests.support.api import JSON, SCHEMAS, assert_shape, error_code
from tests.support.prometheus import promtool_check_metrics
from tests.support.service import start_run, wait_for_run
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


PROMETHEUS_FAMILIES = {  # name (without _total) -> type; the README's table
    "greenrow_ticks_committed": "counter", "greenrow_ticks_not_applied": "counter", "greenrow_tick_batches": "counter",
    "greenrow_row_restarts": "counter", "greenrow_rows_failed": "counter", "greenrow_calls_timed_out": "counter",
    "greenrow_messages": "counter", "greenrow_service_restarts": "counter", "greenrow_database_outages": "counter",
    "greenrow_database_errors": "counter", "greenrow_orphan_rows_relaunched": "counter",
    "greenrow_hub_blocked": "counter", "greenrow_cpu_seconds": "counter",
    "greenrow_tick_lateness_seconds": "histogram", "greenrow_tick_commit_seconds": "histogram",
    "greenrow_tick_batch_rows": "histogram", "greenrow_pool_checkout_seconds": "histogram",
    "greenrow_http_request_duration_seconds": "histogram",
    "greenrow_row_servers": "gauge", "greenrow_greenlets": "gauge", "greenrow_inbox_messages": "gauge",
    "greenrow_pending_calls": "gauge", "greenrow_shards_held": "gauge", "greenrow_pool_connections": "gauge",
    "greenrow_resident_memory_bytes": "gauge", "greenrow_node_info": "gauge", "greenrow_monitors": "gauge",
    "greenrow_node_start_time_seconds": "gauge",
}


def test_metrics_is_the_prometheus_text_format_and_passes_promtools_lint(api, node_id):
    run = start_run(api, rows=20, start_value=2, tick_ms=20)
    wait_for_run(api, run["id"], timeout=15)
    assert api.post(f"/rows/{run['first_row_id']}/messages", json={"type": "ping"}).status_code == 202

    response = api.get("/metrics")

    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    status, said = promtool_check_metrics(response.content)
    assert status == 0 and not said.strip(), said
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert {name: families[name].type for name in PROMETHEUS_FAMILIES if name in families} == PROMETHEUS_FAMILIES

    def sample(name, **labels):
        return [s.value for family in families.values() for s in family.samples
                if s.name == name and labels.items() <= s.labels.items()]
    assert sample("greenrow_node_info", node=node_id) == [1.0]
    assert sample("greenrow_shards_held") == [256.0]
    assert sample("greenrow_ticks_committed_total")[0] >= 40
    assert sample("greenrow_tick_lateness_seconds_count")[0] >= 40
    assert sample("greenrow_http_request_duration_seconds_count", route="/runs/<id:run_id>", method="GET",
                  status="200")[0] >= 1
    assert sample("greenrow_messages_total", type="ping", outcome="accepted")[0] >= 1


def test_stats_gives_every_nodes_figures_and_the_clusters_totals(api, node_id):
    stats = api.json("/stats")

    assert stats["node"] == node_id and set(stats) == {"node", "cluster", "nodes"}
    [node] = stats["nodes"]
    assert set(node) == set(SCHEMAS["NodeStats"]["properties"])  # the OpenAPI document names every field
    assert set(stats["cluster"]) == set(SCHEMAS["ClusterStats"]["properties"])
    assert set(node["counters"]) == set(SCHEMAS["Counters"]["properties"])
    assert node["node"] == node_id and node["running"] is True and node["shards_held"] == 256
    assert node["stats_age_s"] == 0  # the answering node's own figures are read as it answers
    assert set(node["pool"]) == {"size", "open", "in_use", "idle", "waiting"}
    assert {"ticks_committed", "messages_accepted", "messages_applied", "calls_timed_out", "row_servers_started",
            "row_restarts", "runs_created", "runs_finished", "runs_stopped", "hub_blocked"} <= set(node["counters"])
    assert set(node["tick_commit"]) == {"count", "mean_ms", "p50_ms", "p99_ms", "max_ms"}
    cluster = stats["cluster"]
    assert cluster["nodes"] == 1 and cluster["counters"] == node["counters"]
    assert cluster["tick_lateness"] == node["tick_lateness"] and cluster["shards_held"] == 256


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
    ("GET", "/stats", None),
]


def test_without_its_database_the_service_is_alive(unready):
    assert unready.json("/healthz")["status"] == "ok"
    assert unready.json("/openapi.json") == json.loads(json.dumps(DOCUMENT))
    metrics = unready.get("/metrics")  # what a scraper sees while the node cannot start: telemetry all the same
    assert metrics.status_code == 200 and "greenrow_database_errors_total" in metrics.text


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
