"""Telemetry of real services: /metrics and /stats with several workers, the log lines of a crash, JSON
logs. (A blocked hub: tests/unit/test_hub_watch.py, where a greenlet can be made to block it.)"""
import json

from prometheus_client.parser import text_string_to_metric_families

from tests.support.rows import send
from tests.support.service import start_run, wait_for_run
from tests.support.wait import wait_until


def samples(service, name):
    """{labels as a sorted tuple: value} of one sample name in a scrape of the service's /metrics."""
    response = service.get("/metrics")
    assert response.status_code == 200, response.text
    return {tuple(sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples
            if sample.name == name}


def test_every_scrape_of_a_two_worker_instance_gives_the_instances_totals_and_stats_the_clusters(make_service):
    service = make_service(workers=2)
    run = start_run(service, rows=400, start_value=2, tick_ms=50, max_concurrency=400)
    wait_for_run(service, run["id"], timeout=30)
    ticks = 400 * 2

    # Each worker publishes its figures within a second; then whichever worker answers, the instance's total.
    wait_until(lambda: samples(service, "greenrow_ticks_committed_total") == {(): ticks}, 10, interval=0.2,
               message="the scrapes never added up to the run's ticks")
    scrapes = [samples(service, "greenrow_ticks_committed_total") for _ in range(8)]
    assert scrapes == [{(): ticks}] * 8
    nodes = samples(service, "greenrow_node_info")
    assert len(nodes) == 2 and len({dict(labels)["pid"] for labels in nodes}) == 2  # one series per live worker
    assert sum(samples(service, "greenrow_shards_held").values()) == 256
    lateness = samples(service, "greenrow_tick_lateness_seconds_count")
    assert lateness == {(): ticks}

    def cluster_counted():
        stats = service.json("/stats")
        return stats if stats["cluster"]["counters"]["ticks_committed"] == ticks else None
    stats = wait_until(cluster_counted, 10, interval=0.2, message="/stats never added up to the run's ticks")
    assert stats["cluster"]["nodes"] == 2 and len(stats["nodes"]) == 2
    assert sum(node["counters"]["ticks_committed"] for node in stats["nodes"]) == ticks
    assert stats["cluster"]["tick_lateness"]["count"] == ticks and stats["cluster"]["shards_held"] == 256


def test_a_crashed_row_server_is_one_warning_line_with_its_ids_and_logs_are_json_lines(make_service):
    service = make_service(env={"LOG_FORMAT": "json", "GREENROW_MAX_RESTARTS": "5"})
    run = start_run(service, rows=1, start_value=1000, tick_ms=1000)
    row_id = run["first_row_id"]
    for crashes in (1, 2):
        send(service, row_id, "crash")
        wait_until(lambda: service.json(f"/rows/{row_id}")["restarts"] >= crashes, 10,
                   message="the crashed row server was never restarted")

    def restart_lines():
        lines = [json.loads(line) for line in service.log().splitlines()]  # every line (gunicorn's too) is JSON
        restarts = [line for line in lines if line.get("event") == "greenrow.row.restart"]
        return (lines, restarts) if len(restarts) == 2 else None
    lines, restarts = wait_until(restart_lines, 10, message="two greenrow.row.restart lines were never logged")

    for line in restarts:
        assert line["level"] == "WARNING" and line["row"] == row_id and line["run"] == run["id"]
        assert line["node"] == service.json("/healthz")["node"]
        assert "CrashRequested: crash requested by message" in line["message"]
    assert "Traceback" in restarts[0]["traceback"] and "traceback" not in restarts[1]  # once per distinct error
    assert any(line.get("event") == "greenrow.node.start" for line in lines)
    log = service.log()
    assert "functools.partial" not in log and "failed with CrashRequested" not in log  # no print by gevent's hub

