"""Time series: a thread that calls a few probes every interval and keeps what they return.

A probe is a callable returning a dict of numbers (or None to skip this sample); each sample is
``{"t": seconds since start, **every probe's dict}``. Also the probes used by the phases: a process
tree's RSS and CPU, the machine's busy CPU, greenrow's /stats.
"""
import json
import os
import threading
import time
import urllib.request

import psutil

INTERVAL_S = 0.15
# NodeMetrics.collect asks until every node has answered, for at most this long. (It used to give up
# after 4 tries per node: a worker busy at that moment let every try land on the other one, and the
# run was counted with the late node's figures from before it, half its ticks; 2 of 3 loaded runs
# of a bench on 2026-12-04.)
COLLECT_TIMEOUT_S = 20.0


class Sampler:
    def __init__(self, probes, interval_s=INTERVAL_S, t0=None):
        self.probes = list(probes)
        self.interval_s = interval_s
        self.samples = []
        self.latest = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self.t0 = t0  # share another sampler's t0 to put both series on one time axis

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.t0 = self.t0 or time.monotonic()
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        return self.samples

    def now(self):
        return time.monotonic() - self.t0

    def _loop(self):
        next_at = time.monotonic()
        while not self._stop.is_set():
            sample = {"t": round(self.now(), 3)}
            for probe in self.probes:
                try:
                    values = probe()
                except Exception:  # a probe that failed once (process gone, HTTP hiccup) skips that sample
                    values = None
                if values:
                    sample.update(values)
            self.samples.append(sample)
            self.latest = sample
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def peak(self, key):
        values = [s[key] for s in self.samples if s.get(key) is not None]
        return max(values) if values else None


def tree_usage(root):
    """(rss bytes, cpu seconds) of a process and its descendants; cpu includes children they reaped."""
    rss, cpu = 0, 0.0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return None
    for proc in procs:
        try:
            with proc.oneshot():
                rss += proc.memory_info().rss
                times = proc.cpu_times()
            cpu += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            pass
    return rss, cpu


def process_probe(prefix, proc):
    """RSS and CPU of one process tree, as ``<prefix>_rss`` and ``<prefix>_cpu_s``."""
    def probe():
        usage = tree_usage(proc)
        return usage and {f"{prefix}_rss": usage[0], f"{prefix}_cpu_s": round(usage[1], 3)}
    return probe


def machine_busy_s():
    """Busy CPU seconds of the whole machine (softirq included: part of it is also charged to processes)."""
    times = psutil.cpu_times()
    idle = ("idle", "iowait", "steal", "guest", "guest_nice")  # guest is already counted in user
    return sum(times) - sum(getattr(times, name, 0.0) for name in idle)


def softirq_s():
    """Kernel softirq time, mostly loopback TCP here; only partly charged to the processes that caused it."""
    return getattr(psutil.cpu_times(), "softirq", 0.0)


def own_cpu_s():
    """CPU of this process and of the children it has reaped (load client, peer, Elixir, ceiling script)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def machine_probe():
    return {"machine_busy_s": round(machine_busy_s(), 3), "softirq_s": round(softirq_s(), 3)}


def pg_probe(pg):
    return lambda: {"pg_cpu_s": round(pg.cpu_s(), 3)}


def http_json(url, timeout=5.0, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read())


class NodeMetrics:
    """greenrow's GET /stats from every node, merged: counters summed, histograms bounded.

    /stats has every node's figures, but the answering node's own are the only ones read as it
    answers (the others' are up to a second old), and a request lands on whichever worker accepts it,
    so each ``collect`` asks (a few times, a new connection each) until every worker's node answered,
    keeping each node's own latest figures. Counters and gauges are summed over nodes; for the histograms the count
    is summed, the mean weighted, and p50 / p99 / max are the highest node's: an upper bound of the
    merged percentile (exact with one node). Per-node snapshots stay in ``latest``.
    """

    def __init__(self, base_url, node_count):
        self.base_url = base_url
        self.node_count = node_count
        self.latest = {}

    def collect(self):
        started = time.monotonic()
        deadline = started + COLLECT_TIMEOUT_S
        seen = set()
        while True:
            _, stats = http_json(self.base_url + "/stats", timeout=5.0)
            m = next(node for node in stats["nodes"] if node["node"] == stats["node"])  # its own, read now
            self.latest[m["node"]] = m
            seen.add(m["node"])
            if len(seen) >= self.node_count:
                break
            if time.monotonic() > deadline:  # merging another node's older figures would miscount the run
                raise RuntimeError(f"only {len(seen)} of {self.node_count} nodes answered /stats "
                                   f"within {COLLECT_TIMEOUT_S:g} s")
            time.sleep(0.02)  # a new connection may land on the same worker again: give the others a turn
        merged = merge_metrics(self.latest.values())
        merged["metrics_ms"] = round((time.monotonic() - started) * 1000, 1)
        merged["nodes_answered"] = len(seen)
        return merged

    def probe(self):
        """The figures the charts and the report use, for the Sampler: one GET /stats, the cluster's
        totals (the answering node's figures read now, the others' up to a second old; ``collect``
        gives the exact ones at the start and the end). Give it a Sampler of its own: a worker whose hub
        is busy answers late, and that must not delay the process samples."""
        started = time.monotonic()
        _, stats = http_json(self.base_url + "/stats", timeout=5.0)
        cluster, late = stats["cluster"], stats["cluster"]["tick_lateness"]
        return {
            "metrics_ms": round((time.monotonic() - started) * 1000, 1),
            "nodes_answered": cluster["nodes"],
            "ticks_committed": cluster["counters"]["ticks_committed"],
            "row_servers": cluster["row_servers"],
            "lateness_count": late["count"],
            "lateness_sum_ms": (late["mean_ms"] or 0) * late["count"],
            "lateness_p50_ms": late["p50_ms"],
            "lateness_p99_ms": late["p99_ms"],
            "metrics_rss": cluster["rss_bytes"],
            "pool_waiting": cluster["pool"]["waiting"],
        }


def merge_metrics(snapshots):
    snapshots = list(snapshots)
    counters = {}
    for m in snapshots:
        for key, value in m["counters"].items():
            counters[key] = counters.get(key, 0) + value
    merged = {
        "nodes": sorted(m["node"] for m in snapshots),
        "counters": counters,
        "row_servers": sum(m["row_servers"] for m in snapshots),
        "monitors": {f"{m['node']}:{run}": v for m in snapshots for run, v in (m.get("monitors") or {}).items()},
        "rss_bytes": sum(m.get("rss_bytes") or 0 for m in snapshots),
        "pool_waiting": sum((m.get("pool") or {}).get("waiting") or 0 for m in snapshots),
        "shards_held": {m["node"]: m.get("shards_held") for m in snapshots},
    }
    for name in ("tick_lateness", "tick_commit", "tick_batch_rows"):
        merged[name] = _merge_histograms([m[name] for m in snapshots if m.get(name)])
    return merged


def _merge_histograms(summaries):
    count = sum(h["count"] for h in summaries)
    total = sum((h["mean_ms"] or 0) * h["count"] for h in summaries)

    def highest(key):
        values = [h[key] for h in summaries if h.get(key) is not None]
        return max(values) if values else None

    return {"count": count, "sum_ms": total, "mean_ms": round(total / count, 3) if count else None,
            "p50_ms": highest("p50_ms"), "p99_ms": highest("p99_ms"), "max_ms": highest("max_ms"),
            "nodes": len(summaries)}


def workers_probe(prefix, master):
    """RSS and CPU summed over a process's children (gunicorn's workers), listed anew at each sample."""
    def probe():
        rss, cpu = 0, 0.0
        for child in master.children():
            usage = tree_usage(child)
            if usage:
                rss, cpu = rss + usage[0], cpu + usage[1]
        return {f"{prefix}_rss": rss, f"{prefix}_cpu_s": round(cpu, 3)}
    return probe


def cpu_quiet(max_wait_s, threshold_cores=0.15, window_s=1.0):
    """Wait (at most max_wait_s) for a window in which the machine is busy less than threshold_cores.

    Returns (seconds waited, busy cores in the last window): something else on the machine (a test
    suite, another benchmark) shows up here and in each phase's ``other_cpu_s``.
    """
    started = time.monotonic()
    while True:
        busy0 = machine_busy_s()
        time.sleep(window_s)
        busy = (machine_busy_s() - busy0) / window_s
        waited = time.monotonic() - started
        if busy < threshold_cores or waited >= max_wait_s:
            return round(waited, 1), round(busy, 2)
