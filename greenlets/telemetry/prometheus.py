"""GET /metrics: the node's telemetry in the Prometheus text format, through prometheus_client.

Multiprocess mode. Every gunicorn worker is a node, and a scrape of an instance reaches whichever
worker the kernel hands the connection to. So each worker writes its figures to memory-mapped files
in the instance's PROMETHEUS_MULTIPROC_DIR (config/metrics_dir.py makes one per gunicorn master), and
any worker answers a scrape with all of them read together: counters and histograms summed over
the instance's workers (also those that died since it started: a counter never goes back when a worker
is replaced), gauges one series per live worker (a ``pid`` label; ``greenrow_node_info`` gives each
pid's node id). Every scrape of an instance then says the same thing, whichever worker answers.

Without PROMETHEUS_MULTIPROC_DIR (the app run outside config/gunicorn.conf.py) the figures are this
process's alone.

Nothing here runs on the tick path: ``PrometheusExporter.publish`` copies what the node's Telemetry
counted since its last call (counters by their increase, histograms by their new bucket counts) and
sets the gauges; the node's telemetry publisher calls it once a second, and /metrics calls it before
answering, so the answering worker's own figures are current and its peers' at most a second old.
"""
import os
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

from greenlets.memory import rss_bytes
from greenlets.telemetry.recorder import BATCH_BOUNDS_ROWS, COUNTERS, LATENCY_BOUNDS_MS, MESSAGE_OUTCOMES

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
PREFIX = "greenrow"
_MS = 0.001  # the Telemetry's milliseconds -> Prometheus's seconds

disable_created_metrics()  # (the *_created series: multiprocess mode has none, so neither has the fallback)
_REGISTRY = CollectorRegistry(auto_describe=True)  # this process's metrics (read directly when not multiprocess)


def _counter(name, documentation, labels=()):
    return Counter(f"{PREFIX}_{name}", documentation, labels, registry=_REGISTRY)


def _gauge(name, documentation, labels=()):
    # liveall: one series per live worker (pid label); a worker's series go when it exits
    return Gauge(f"{PREFIX}_{name}", documentation, labels, registry=_REGISTRY, multiprocess_mode="liveall")


def _histogram(name, documentation, bounds, scale, labels=()):
    return Histogram(f"{PREFIX}_{name}", documentation, labels, registry=_REGISTRY,
                     buckets=[bound * scale for bound in bounds] + [float("inf")])


# Telemetry.counters by name (greenrow_<name>_total), but for the messages' own: greenrow_messages_total
# has them by type and outcome.
_COUNTERS = {name: _counter(name, help_text) for name, help_text in COUNTERS.items()
             if name == "calls_timed_out" or name not in MESSAGE_OUTCOMES.values()}
_MESSAGES = _counter("messages", "messages by type and outcome: accepted (committed to a row's inbox by this "
                     "node's API), applied, discarded (set aside), timed_out (a call answered 504)",
                     ["type", "outcome"])
_CPU = _counter("cpu_seconds", "CPU time (user and system) of the workers")

# Telemetry.histograms() name -> (Prometheus histogram, factor from the Telemetry's unit)
_HISTOGRAMS = {
    "tick_lateness": (_histogram("tick_lateness_seconds", "a tick's commit time minus its due time",
                                 LATENCY_BOUNDS_MS, _MS), _MS),
    "tick_commit": (_histogram("tick_commit_seconds", "duration of a group commit of ticks (one statement per step)",
                               LATENCY_BOUNDS_MS, _MS), _MS),
    "tick_batch_rows": (_histogram("tick_batch_rows", "ticks in a group commit", BATCH_BOUNDS_ROWS, 1), 1),
    "pool_checkout": (_histogram("pool_checkout_seconds", "time to get a connection from the request pool "
                                 "(opening one included)", LATENCY_BOUNDS_MS, _MS), _MS),
}
_HTTP = _histogram("http_request_duration_seconds", "HTTP requests by route (the URL rule), method and status",
                   LATENCY_BOUNDS_MS, _MS, ["route", "method", "status"])

_NODE_INFO = _gauge("node_info", "1 for each live node (worker), labelled with its node id", ["node"])
_STARTED = _gauge("node_start_time_seconds", "when the node started (Unix time)")
_ROW_SERVERS = _gauge("row_servers", "live row servers")
_GREENLETS = _gauge("greenlets", "the node's greenlets by kind: row_server, service (tick writers, lease "
                    "keeper, listener, monitors, ...), request (HTTP requests in progress), restart "
                    "(crashed row servers waiting for their restart)", ["kind"])
_INBOX = _gauge("inbox_messages", "messages waiting in the inboxes of the shards this node holds")
_PENDING_CALLS = _gauge("pending_calls", "calls (?wait=true) waiting for their reply")
_SHARDS = _gauge("shards_held", "shard leases this node holds")
_MONITORS = _gauge("monitors", "running runs this node has a monitor for")
_POOL = _gauge("pool_connections", "request pool connections: in_use, idle, size (the most it opens), "
               "waiting (greenlets waiting for one)", ["state"])
_RSS = _gauge("resident_memory_bytes", "resident memory of the worker")


def exposition():
    """The text a scrape gets: every worker of the instance in multiprocess mode, else this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(_REGISTRY)


class PrometheusExporter:
    """Copies one node's Telemetry into the Prometheus metrics (see the module's docstring)."""

    def __init__(self, node):
        self._node = node
        self._counted = {}  # counter key -> value already added
        self._node_id = None

    def __str__(self):
        return f"<PrometheusExporter node={self._node.id}>"

    def publish(self):
        node, telemetry = self._node, self._node.telemetry
        for name, counter in _COUNTERS.items():
            self._add(name, counter, telemetry.counters[name])
        for (message_type, outcome), count in list(telemetry.messages.items()):
            self._add(("message", message_type, outcome), _MESSAGES.labels(message_type, outcome), count)
        usage = os.times()
        self._add("cpu", _CPU, usage.user + usage.system)
        for name, histogram in telemetry.histograms().items():
            metric, factor = _HISTOGRAMS[name]
            _add_observations(metric, histogram, factor)
        for (route, method, status), histogram in list(telemetry.http.items()):
            _add_observations(_HTTP.labels(route, method, status), histogram, _MS)
        self._set_gauges(node, telemetry)

    def _add(self, key, counter, value):
        added = value - self._counted.get(key, 0)
        if added > 0:
            counter.inc(added)
            self._counted[key] = value

    def _set_gauges(self, node, telemetry):
        if node.running and node.id != self._node_id:
            if self._node_id is not None:  # (a node that started again; multiprocess mode cannot remove a series)
                _NODE_INFO.labels(self._node_id).set(0)
            self._node_id = node.id
            _NODE_INFO.labels(node.id).set(1)
            _STARTED.set(node.started_at or time.time())
        _ROW_SERVERS.set(len(node.registry))
        for kind, count in node.greenlet_counts().items():
            _GREENLETS.labels(kind).set(count)
        _INBOX.set(telemetry.inbox_messages or 0)
        _PENDING_CALLS.set(len(node.calls))
        _SHARDS.set(len(node.leases.held) if node.running else 0)
        _MONITORS.set(len(node.monitors))
        if node.pool is not None:
            stats = node.pool.stats()
            for state in ("in_use", "idle", "size", "waiting"):
                _POOL.labels(state).set(stats[state])
        _RSS.set(rss_bytes())


def _add_observations(metric, histogram, factor):
    """Add a Telemetry histogram's new counts to a Prometheus histogram: a few increments a second,
    not one observe() per tick. prometheus_client keeps a histogram's buckets uncumulated in
    ``_buckets`` (one value per bound, +Inf last) and its sum in ``_sum``, as observe() updates them."""
    counts, added_sum = histogram.take_new()
    for bucket, count in zip(metric._buckets, counts):
        if count:
            bucket.inc(count)
    if added_sum:
        metric._sum.inc(added_sum * factor)
