"""Bounded open-loop HTTP load on greenrow, without gevent: a scheduler thread and a few worker threads.

Requests are due at a fixed rate (``--rate`` per second for ``--duration`` seconds, so exactly
rate × duration of them), half ``GET /rows/<id>`` and half casts ``POST /rows/<id>/messages``
``{"type": "ping"}``, each for a random row id in ``--first-id``..``--last-id``. Each worker thread
keeps one keep-alive connection. A GET must answer 200 and a cast 202; anything else, a timeout or
a broken connection is an error. ``latency`` is send → response read; ``latency_from_due`` also
holds the time a request waited for a free worker (it stays close to ``latency`` while the client
keeps up). Prints one JSON object, with the client's own CPU use.

    python bench/load.py --port 8000 --first-id 1 --last-id 20000 --rate 500 --duration 4
"""
import argparse
import http.client
import json
import math
import os
import queue
import random
import threading
import time

WORKERS = 128  # enough that the client keeps up even when responses take 250 ms
REQUEST_TIMEOUT_S = 10.0
CAST_BODY = json.dumps({"type": "ping"}).encode()
JSON_HEADERS = {"Content-Type": "application/json"}
RETRIABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Worker(threading.Thread):
    def __init__(self, host, port, jobs, results):
        super().__init__(daemon=True)
        self.host, self.port = host, port
        self.jobs, self.results = jobs, results
        self.conn = None
        self.reconnects = 0

    def run(self):
        while True:
            job = self.jobs.get()
            if job is None:
                break
            due, kind, row_id = job
            started = time.monotonic()
            status, error = self._request(kind, row_id)
            ended = time.monotonic()
            self.results.append((kind, due, started, ended, status, error))
        if self.conn is not None:
            self.conn.close()

    def _request(self, kind, row_id):
        for attempt in (1, 2):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_S)
            try:
                if kind == "get":
                    self.conn.request("GET", f"/rows/{row_id}")
                else:
                    self.conn.request("POST", f"/rows/{row_id}/messages", body=CAST_BODY, headers=JSON_HEADERS)
                response = self.conn.getresponse()
                response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self._drop()
                return response.status, None
            except RETRIABLE as exc:
                self._drop()
                if fresh or attempt == 2:  # a keep-alive connection the server closed: retry once on a new one
                    return None, type(exc).__name__
                self.reconnects += 1
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                return None, type(exc).__name__
        return None, "unreachable"

    def _drop(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_load(host, port, first_id, last_id, rate, duration_s, seed=None):
    rng = random.Random(seed)
    count = int(rate * duration_s)
    jobs, results = queue.Queue(), []
    workers = [Worker(host, port, jobs, results) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    cpu0, t0 = _cpu_s(), time.monotonic()
    for index in range(count):
        due = t0 + index / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        jobs.put((due, "get" if index % 2 == 0 else "cast", rng.randint(first_id, last_id)))
    for _ in workers:
        jobs.put(None)
    for worker in workers:
        worker.join(REQUEST_TIMEOUT_S * 2 + 5)
    wall_s = time.monotonic() - t0
    cpu = _cpu_s() - cpu0
    return summarise(results, count, wall_s, cpu, sum(w.reconnects for w in workers), rate, duration_s)


def summarise(results, count, wall_s, cpu_s, reconnects, rate, duration_s):
    expected = {"get": 200, "cast": 202}
    errors, statuses = {}, {}
    for kind, _, _, _, status, error in results:
        key = f"{kind} {status}" if status is not None else f"{kind} {error}"
        statuses[key] = statuses.get(key, 0) + 1
        if status != expected[kind]:
            errors[key] = errors.get(key, 0) + 1
    return {
        "requests_planned": count,
        "requests_done": len(results),
        "rate_target": rate,
        "duration_target_s": duration_s,
        "wall_s": round(wall_s, 3),
        "rate_achieved": _send_rate(results),
        "errors": sum(errors.values()) + (count - len(results)),
        "errors_by_kind": errors,
        "statuses": statuses,
        "reconnects": reconnects,
        "latency": _summary([end - start for _, _, start, end, _, _ in results]),
        "latency_get": _summary([end - start for kind, _, start, end, _, _ in results if kind == "get"]),
        "latency_cast": _summary([end - start for kind, _, start, end, _, _ in results if kind == "cast"]),
        "latency_from_due": _summary([end - due for _, due, _, end, _, _ in results]),
        "client_cpu_s": round(cpu_s, 3),
        "client_cpu_pct": round(cpu_s / wall_s * 100, 1) if wall_s else None,
        "client_threads": WORKERS,
    }


def _send_rate(results):
    """Requests sent per second, first send to last (the wall time also holds the last responses)."""
    starts = [start for _, _, start, _, _, _ in results]
    if len(starts) < 2 or max(starts) == min(starts):
        return None
    return round((len(starts) - 1) / (max(starts) - min(starts)), 1)


def _summary(samples):
    if not samples:
        return {"count": 0}
    s = sorted(samples)

    def pct(q):
        return round(s[max(1, math.ceil(q * len(s))) - 1] * 1000, 3)

    return {"count": len(s), "mean_ms": round(sum(s) / len(s) * 1000, 3), "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "max_ms": round(s[-1] * 1000, 3)}


def _cpu_s():
    times = os.times()
    return times.user + times.system


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--first-id", type=int, required=True)
    p.add_argument("--last-id", type=int, required=True)
    p.add_argument("--rate", type=float, default=500.0, help="requests per second")
    p.add_argument("--duration", type=float, default=4.0, help="seconds of load (bounded)")
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()
    if not (0 < args.rate <= 10000 and 0 < args.duration <= 60 and args.first_id <= args.last_id):
        p.error("rate must be 1-10000, duration 1-60 s, first-id <= last-id")
    print(json.dumps(run_load(args.host, args.port, args.first_id, args.last_id, args.rate, args.duration,
                              args.seed)))


if __name__ == "__main__":
    main()
