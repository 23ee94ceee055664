"""What a node counts about itself: plain integers and histograms bumped in place.

This is the one place figures are recorded; GET /stats (JSON) and GET /metrics (Prometheus) are two
readings of it (greenlets/telemetry/stats.py and prometheus.py). Recording never calls out of the
process: the Prometheus exporter copies what changed once a second (and when /metrics is asked).
Event names follow ``greenrow.<thing>.<event>`` and are listed in the README.
"""
from greenlets.telemetry.histogram import Histogram

# Round bounds the Prometheus histograms get (in the histogram's unit: ms, or rows).
LATENCY_BOUNDS_MS = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
BATCH_BOUNDS_ROWS = (1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000, 50000)

# name -> what it counts (the README's table; the Prometheus help text)
COUNTERS = {
    "ticks_committed": "ticks committed (applied) by this node's group commits",
    "ticks_not_applied": "ticks a group commit refused: run stopped, row paused or the shard lease lost",
    "tick_batches": "group commits of ticks",
    "tick_batch_retries": "group commits retried after a deadlock",
    "messages_accepted": "messages committed to a row's inbox by this node's HTTP API",
    "messages_applied": "messages applied by this node's row servers",
    "messages_discarded": "messages moved to the dead letters because their effect can never be applied",
    "messages_dead_lettered": "messages moved to the dead letters: discarded, or crashing their row server past "
                              "its restart limit",
    "dead_letters_replayed": "dead letters put back in their row's inbox (POST /dead-letters/<id>/replay)",
    "dead_letters_deleted": "dead letters dropped (DELETE /dead-letters/<id>)",
    "messages_fenced": "messages this node tried to apply after losing the row's shard lease (left for the new owner)",
    "calls_timed_out": "calls (?wait=true) answered 504 timeout",
    "row_servers_started": "row servers started",
    "row_servers_exited": "row servers ended (done, stopped, crashed)",
    "row_servers_crashed": "row servers that raised",
    "row_restarts": "crashed row servers restarted by their supervisor",
    "rows_failed": "rows marked failed: crashed past the restart limit",
    "runs_created": "runs created through this node",
    "runs_finished": "runs this node's monitor marked done",
    "runs_stopped": "runs stopped through this node",
    "runs_deleted": "runs whose deletion this node's run deleter completed (retention)",
    "run_rows_deleted": "rows of deleted runs removed by this node's run deleter",
    "run_messages_deleted": "queued messages of deleted runs removed by this node's run deleter",
    "service_restarts": "node services (monitor, tick writer, lease keeper, ...) restarted after raising",
    "database_errors": "operations that could not reach the database (each is retried)",
    "database_outages": "times the node lost the database (a run of failures ended by a success)",
    "orphan_rows_relaunched": "active rows found with no server and put back to pending",
    "hub_blocked": "times gevent's monitor thread saw the hub blocked longer than GEVENT_MAX_BLOCKING_TIME",
}

# A message's outcome -> the counter that also counts it.
MESSAGE_OUTCOMES = {
    "accepted": "messages_accepted",
    "applied": "messages_applied",
    "discarded": "messages_discarded",
    "timed_out": "calls_timed_out",
}


class Telemetry:
    """A node's counters and histograms."""

    def __init__(self):
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.messages = {}  # (type, outcome) -> count
        self.tick_lateness = Histogram(LATENCY_BOUNDS_MS)
        self.tick_commit = Histogram(LATENCY_BOUNDS_MS)
        self.tick_batch_size = Histogram(BATCH_BOUNDS_ROWS)
        self.pool_checkout = Histogram(LATENCY_BOUNDS_MS)
        self.http = {}  # (route, method, status) -> Histogram of durations in ms
        self.http_in_flight = 0
        self.inbox_messages = None  # messages waiting in the inboxes of this node's shards, read once a second

    def bump(self, name, by=1):
        self.counters[name] += by

    def message(self, message_type, outcome):
        """A message of a type accepted, applied, discarded, or a call on it timed out."""
        key = (message_type, outcome)
        self.messages[key] = self.messages.get(key, 0) + 1
        self.counters[MESSAGE_OUTCOMES[outcome]] += 1

    def http_request(self, route, method, status, ms):
        key = (route, method, status)
        histogram = self.http.get(key)
        if histogram is None:
            histogram = self.http[key] = Histogram(LATENCY_BOUNDS_MS)
        histogram.record(ms)

    def histograms(self):
        """The node's fixed histograms by the name /stats gives them."""
        return {"tick_lateness": self.tick_lateness, "tick_commit": self.tick_commit,
                "tick_batch_rows": self.tick_batch_size, "pool_checkout": self.pool_checkout}
