"""The telemetry's own arithmetic: histograms read three ways, the JSON log line."""
import json
import logging

from config.log_setup import JsonFormatter
from greenlets.telemetry.histogram import Histogram, merged_summary


def test_a_histogram_hands_prometheus_each_new_count_once_in_the_bucket_of_its_round_bound():
    histogram = Histogram(export_bounds=(1, 10, 100))
    for value in (0.5, 1.0, 1.01, 10, 99, 250):
        histogram.record(value)

    assert histogram.take_new() == ([2, 2, 1, 1], 361.51)  # (..1], (1..10], (10..100], above: le semantics
    assert histogram.take_new() == ([0, 0, 0, 0], 0.0)
    histogram.record(7)
    assert histogram.take_new() == ([0, 1, 0, 0], 7.0)


def test_merged_summaries_are_the_percentiles_of_every_count_together_not_the_worst_nodes():
    fast, slow = Histogram(export_bounds=(1,)), Histogram(export_bounds=(1,))
    for _ in range(99):
        fast.record(1.0)
    slow.record(500.0)

    merged = merged_summary([fast.raw(), slow.raw()])

    assert merged["count"] == 100 and merged["max_ms"] == 500.0
    assert merged["p50_ms"] == 1.0 and merged["p99_ms"] == 1.0  # the 99th of 100 values is a fast one
    assert slow.summary()["p50_ms"] == 500.0


def test_a_json_log_line_lifts_the_event_and_the_ids_its_message_names():
    class Node:
        id = "host-1-abc"

    record = logging.LogRecord("greenlets.rows.supervisor", logging.WARNING, __file__, 1,
                               "greenrow.row.restart row=%s run=%s error=%s", (42, 7, "CrashRequested: boom"), None)

    line = json.loads(JsonFormatter(Node()).format(record))

    assert line["event"] == "greenrow.row.restart" and line["level"] == "WARNING"
    assert (line["row"], line["run"], line["node"]) == (42, 7, "host-1-abc")
    assert line["message"] == "greenrow.row.restart row=42 run=7 error=CrashRequested: boom"
