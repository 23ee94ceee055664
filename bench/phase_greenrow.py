"""One greenrow phase: a fresh database and a fresh service, one run through the HTTP API, measured.

The seed scenario also gets the bounded HTTP load (bench/load.py in its own process) once its
first ticks commit; the scale scenario runs without it. The workers (the gunicorn master's children,
one node each; as many as the service starts by default) and PostgreSQL are sampled all along;
/stats of every node gives ticks and lateness (fresh workers per phase, so their histograms hold
this run only).
"""
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.sampler import (NodeMetrics, Sampler, machine_busy_s, machine_probe, own_cpu_s, pg_probe, softirq_s,
                           workers_probe)
from bench.service import GreenrowService

REPO = Path(__file__).resolve().parent.parent
SETTLE_S = 1.0        # after /readyz, before measuring "RSS before"
AFTER_S = 3.0         # after the run is done, before measuring "RSS after"
LOAD_TIMEOUT_S = 60
# GET /stats during the run: every half second. Each costs a worker 2-3.5 ms of its hub (the other
# nodes' figures in it are up to a second old anyway); asked every 0.15 s, like the process samples,
# the bench's own requests added about 4 us of worker CPU per tick to the seed run it measured and
# doubled its tick lateness p99 (2026-12-04: 18.2-19.7 us and 96-146 ms, against 14.5-15.8 us and 72-79 ms).
METRICS_INTERVAL_S = 0.5


def ideal_makespan_s(rows, max_concurrency, start_value=3, step=1, tick_ms=1000):
    batches = -(-rows // max_concurrency)
    return batches * -(-start_value // step) * tick_ms / 1000


def run_greenrow(pg, log_path, rows, max_concurrency, load=None, poll_s=0.5, timeout_s=300, on_nodes_up=None):
    """Returns the phase's figures and samples; load is None or {"rate": .., "duration": ..}.
    ``on_nodes_up(service)`` is called once every node is up, before anything is measured (a profiler)."""
    pg.recreate_database("greenrow")
    pg.checkpoint()
    service = GreenrowService(pg.url("greenrow"), log_path)
    try:
        service.start()
        result = _measure(service, pg, rows, max_concurrency, load, poll_s, timeout_s, on_nodes_up)
    finally:
        service.stop()
    result["graceful_stop_s"] = service.stop_s
    return result


def _measure(service, pg, rows, max_concurrency, load, poll_s, timeout_s, on_nodes_up):
    nodes = service.wait_nodes()
    if on_nodes_up is not None:
        on_nodes_up(service)
    time.sleep(SETTLE_S)
    workers = workers_probe("impl", service.master())
    node_metrics = NodeMetrics(service.base_url, len(service.workers()))
    metrics0 = node_metrics.collect()
    usage0, pg0, machine0, own0, irq0 = workers(), pg.cpu_s(), machine_busy_s(), own_cpu_s(), softirq_s()
    rss_before = usage0["impl_rss"]
    sampler = Sampler([workers, pg_probe(pg), machine_probe], t0=time.monotonic())
    metrics = Sampler([node_metrics.probe], interval_s=METRICS_INTERVAL_S, t0=sampler.t0)
    load_proc, marks = None, {}
    with sampler, metrics:
        try:
            marks["post"] = sampler.now()
            status, run = service.post("/runs", {"rows": rows, "max_concurrency": max_concurrency})
            if status != 201:
                raise RuntimeError(f"POST /runs answered {status}: {run}")
            marks["posted"] = sampler.now()
            deadline = time.monotonic() + timeout_s
            while True:
                ticking = metrics.latest.get("ticks_committed", 0) > metrics0["counters"]["ticks_committed"]
                if load and load_proc is None and ticking:
                    load_proc = _start_load(service.port, run, load)
                    marks["load_start"] = sampler.now()
                run = service.get(f"/runs/{run['id']}")[1]
                if run["status"] != "running":
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"run {run['id']} still running after {timeout_s} s: {run}")
                time.sleep(poll_s)
            marks["done"] = sampler.now()
            usage1, pg1, machine1, irq1 = workers(), pg.cpu_s(), machine_busy_s(), softirq_s()
            metrics1 = node_metrics.collect()
            load_result = _finish_load(load_proc)
            own = own_cpu_s() - own0  # this bench process and the load client, once reaped
            if load_proc is not None:
                marks["load_end"] = marks["load_start"] + load_result.get("wall_s", 0)
            time.sleep(AFTER_S)
            rss_after = workers()["impl_rss"]
            metrics_after = node_metrics.collect()
        finally:
            if load_proc is not None and load_proc.poll() is None:  # the run failed under load
                load_proc.kill()
                load_proc.wait(10)
    samples, metric_samples = sampler.samples, metrics.samples
    ticks = metrics1["counters"]["ticks_committed"] - metrics0["counters"]["ticks_committed"]
    worker_cpu = usage1["impl_cpu_s"] - usage0["impl_cpu_s"]
    pg_cpu = pg1 - pg0
    rss_peak = max([s["impl_rss"] for s in samples if "impl_rss" in s] + [rss_before])
    peak_servers = max([s.get("row_servers", 0) for s in metric_samples] + [0])
    late = metrics1["tick_lateness"]
    makespan = run["elapsed_s"]
    result = {
        "rows": rows, "max_concurrency": max_concurrency,
        "workers": len(node_metrics.latest), "nodes_at_start": nodes, "shards_at_end": metrics1["shards_held"],
        "run": run,
        "verified": run["status"] == "done" and run["done"] == rows and run["ticks"] == rows * run["start_value"],
        "makespan_s": makespan,
        "ideal_s": ideal_makespan_s(rows, max_concurrency),
        "ticks": ticks,
        "ticks_per_s": round(ticks / makespan, 1) if makespan else None,
        "sustained_ticks_per_s": sustained_rate(metric_samples),
        "peak_1s_ticks_per_s": peak_window_rate(metric_samples, 1.0),
        "tick_lateness": late,
        "tick_commit": metrics1["tick_commit"],
        "tick_batch_rows": metrics1["tick_batch_rows"],
        "counters": {k: metrics1["counters"][k] - metrics0["counters"].get(k, 0) for k in metrics1["counters"]},
        "impl_cpu_s": round(worker_cpu, 3),
        "impl_cpu_s_per_1000_ticks": _per_1000(worker_cpu, ticks),
        "impl_us_per_tick": round(worker_cpu / ticks * 1e6, 2) if ticks else None,
        "pg_cpu_s": round(pg_cpu, 3),
        "pg_cpu_s_per_1000_ticks": _per_1000(pg_cpu, ticks),
        "machine_busy_s": round(machine1 - machine0, 3),
        "bench_cpu_s": round(own, 3),
        "softirq_s": round(irq1 - irq0, 3),
        "other_cpu_s": round(machine1 - machine0 - worker_cpu - pg_cpu - own, 3),
        "rss_before": rss_before, "rss_peak": rss_peak, "rss_after": rss_after,
        "rss_after_over_before": round(rss_after / rss_before, 3),
        "peak_row_servers": peak_servers,
        "bytes_per_row_server": round((rss_peak - rss_before) / peak_servers) if peak_servers else None,
        "bytes_per_row_server_all_rows": round((rss_peak - rss_before) / min(rows, max_concurrency)),
        "row_servers_after": metrics_after["row_servers"],
        "per_node": {node: {"ticks_committed": m["counters"]["ticks_committed"], "tick_lateness": m["tick_lateness"],
                            "row_servers_started": m["counters"]["row_servers_started"]}
                     for node, m in node_metrics.latest.items()},
        "monitors_after": metrics_after["monitors"],
        "http": load_result,
        "marks": {k: round(v, 3) for k, v in marks.items()},
        "metrics_ms_max": max([s["metrics_ms"] for s in metric_samples if "metrics_ms" in s] + [0]),
        "pool_waiting_max": max([s.get("pool_waiting") or 0 for s in metric_samples] + [0]),
        "samples": samples,
        "metric_samples": metric_samples,
    }
    return result


def _start_load(port, run, load):
    command = [sys.executable, str(REPO / "bench" / "load.py"), "--port", str(port),
               "--first-id", str(run["first_row_id"]), "--last-id", str(run["last_row_id"]),
               "--rate", str(load["rate"]), "--duration", str(load["duration"])]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish_load(proc):
    if proc is None:
        return None
    try:
        out, err = proc.communicate(timeout=LOAD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"error": f"load client still running after {LOAD_TIMEOUT_S} s: killed"}
    if proc.returncode != 0:
        return {"error": f"load client exited with {proc.returncode}: {err.strip()[-500:]}"}
    return json.loads(out)


def _per_1000(cpu_s, ticks):
    return round(cpu_s / ticks * 1000, 4) if ticks else None


def sustained_rate(samples, key="ticks_committed"):
    """Ticks/s from the sample before the first committed tick to the first sample after the last."""
    points = [(s["t"], s[key]) for s in samples if key in s]
    if len(points) < 2 or points[-1][1] == points[0][1]:
        return None
    base, final = points[0][1], points[-1][1]
    start = max(i for i, (_, v) in enumerate(points) if v == base)
    end = min(i for i, (_, v) in enumerate(points) if v == final)
    elapsed = points[end][0] - points[start][0]
    return round((final - base) / elapsed, 1) if elapsed > 0 else None


def peak_window_rate(samples, window_s, key="ticks_committed"):
    points = [(s["t"], s[key]) for s in samples if key in s]
    best, j = None, 0
    for i in range(len(points)):
        while points[i][0] - points[j][0] > window_s:
            j += 1
        if j > 0 and points[i][0] - points[j - 1][0] >= window_s:
            rate = (points[i][1] - points[j - 1][1]) / (points[i][0] - points[j - 1][0])
            best = rate if best is None else max(best, rate)
    return round(best, 1) if best is not None else None
