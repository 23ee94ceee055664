"""GET /stats: every node's figures as JSON, and the cluster's totals, for a curl user (no Prometheus).

Each node writes its figures to its row of ``nodes`` once a second (``stored``: the figures plus the
histograms' raw counts); /stats reads every live node's row, puts the answering node's own figures in
fresh, and adds them up: counters and gauges summed, histograms merged from their counts, so the
cluster's percentiles are exact to a bucket rather than the worst node's.
"""
import os
import socket
import time
from datetime import datetime, timezone

from greenlets.memory import rss_bytes
from greenlets.telemetry.histogram import merged_buckets, merged_summary

# Figures summed over the nodes for the cluster's totals.
_SUMMED = ("row_servers", "pending_calls", "shards_held", "inbox_messages", "rss_bytes", "cpu_s")


def stored(node):
    """What the node writes to its row: its figures and its histograms' raw counts."""
    figures, raw = _figures_and_raw(node)
    return {"figures": figures, "raw": raw}


def _figures_and_raw(node):
    telemetry = node.telemetry
    usage = os.times()
    histograms = telemetry.histograms()
    raw = {name: histogram.raw() for name, histogram in histograms.items()}
    raw["http"] = [[route, method, status, histogram.raw()]
                   for (route, method, status), histogram in list(telemetry.http.items())]
    figures = {
        "node": node.id,
        "running": node.running,
        "uptime_s": round(time.time() - node.started_at, 3) if node.started_at else 0,
        "row_servers": len(node.registry),
        "greenlets": node.greenlet_counts(),
        "monitors": {str(run_id): {"active": len(monitor.active)} for run_id, monitor in node.monitors.items()},
        "pending_calls": len(node.calls),
        "shards_held": len(node.leases.held) if node.running else 0,
        "inbox_messages": telemetry.inbox_messages,
        "pool": node.pool.stats() if node.pool is not None else None,
        "rss_bytes": rss_bytes(),
        "cpu_s": round(usage.user + usage.system, 3),
        "counters": dict(telemetry.counters),
        "messages": _messages(telemetry.messages),
        **{name: merged_summary([counts]) for name, counts in raw.items() if name != "http"},
        "http_requests": _http_summaries(raw["http"]),
    }
    return figures, raw


def cluster(answering_node, rows, histograms=False):
    """/stats: ``rows`` are the live nodes' rows (id, host, pid, started_at, heartbeat_age_s, shards,
    stats_age_s, stats); the answering node's own figures replace what its row says. With
    ``histograms``, also the cluster's bucket counts of tick lateness and of HTTP request durations
    (every route together), for readers that compute recent percentiles (the dashboard)."""
    own = stored(answering_node)
    nodes, raws = [], []
    if not any(row["id"] == answering_node.id for row in rows):  # its heartbeat is late: it still answers for itself
        raws.append(own["raw"])
        started = answering_node.started_at or time.time()
        nodes.append(dict(own["figures"], host=socket.gethostname(), pid=os.getpid(),
                          started_at=datetime.fromtimestamp(started, timezone.utc).isoformat(), heartbeat_age_s=None,
                          stats_age_s=0.0))
    for row in rows:
        if row["id"] == answering_node.id:
            entry, age = own, 0.0
        else:
            entry, age = row["stats"], row["stats_age_s"]
        figures = dict(entry["figures"]) if entry else {"node": row["id"]}
        figures.update(host=row["host"], pid=row["pid"], started_at=row["started_at"].isoformat(),
                       heartbeat_age_s=row["heartbeat_age_s"], stats_age_s=age)
        nodes.append(figures)
        if entry:
            raws.append(entry["raw"])
    answer = {"node": answering_node.id, "cluster": _totals(nodes, raws), "nodes": nodes}
    if histograms:
        answer["histograms"] = {
            "tick_lateness": merged_buckets([raw["tick_lateness"] for raw in raws if "tick_lateness" in raw]),
            "http_requests": merged_buckets([entry[3] for raw in raws for entry in raw.get("http", [])])}
    return answer


def _totals(nodes, raws):
    reporting = [node for node in nodes if "counters" in node]
    totals = {"nodes": len(nodes)}
    for name in _SUMMED:
        totals[name] = sum(node.get(name) or 0 for node in reporting)
    totals["cpu_s"] = round(totals["cpu_s"], 3)
    totals["pool"] = {key: sum((node.get("pool") or {}).get(key, 0) for node in reporting)
                      for key in ("size", "open", "in_use", "idle", "waiting")}
    totals["counters"] = _summed_dicts(node["counters"] for node in reporting)
    totals["messages"] = {kind: _summed_dicts(node["messages"].get(kind, {}) for node in reporting)
                          for kind in sorted({kind for node in reporting for kind in node.get("messages", {})})}
    for name in ("tick_lateness", "tick_commit", "tick_batch_rows", "pool_checkout"):
        totals[name] = merged_summary([raw[name] for raw in raws if name in raw])
    totals["http_requests"] = _http_summaries([entry for raw in raws for entry in raw.get("http", [])])
    return totals


def _messages(counts):
    by_type = {}
    for (message_type, outcome), count in sorted(counts.items()):
        by_type.setdefault(message_type, {})[outcome] = count
    return by_type


def _summed_dicts(dicts):
    total = {}
    for counts in dicts:
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
    return total


def _http_summaries(entries):
    """[route, method, status, raw] (several per key when they come from several nodes) -> one summary each."""
    grouped = {}
    for route, method, status, raw in entries:
        grouped.setdefault((route, method, status), []).append(raw)
    return [{"route": route, "method": method, "status": status, **merged_summary(raws)}
            for (route, method, status), raws in sorted(grouped.items())]
