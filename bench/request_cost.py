"""What one HTTP request costs greenrow's worker, by kind: `python bench/request_cost.py`.

One worker (WORKERS=1) on the bench PostgreSQL, a run of 2,000 rows of which 1,000 are live (their
first tick an hour away, so nothing but the requests runs), and one keep-alive client sending
REQUESTS requests of each kind one after the other. Prints, per kind, the worker's CPU (user +
system) and PostgreSQL's CPU per request, and the client's round trip. /healthz is the floor:
gunicorn and Flask with no database work.
"""
import http.client
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[0] = str(REPO)

from bench.pg import BenchPostgres  # noqa: E402
from bench.service import one_worker_service  # noqa: E402

REQUESTS = 2000
PING = b'{"type": "ping"}'


def kinds(live, pending):
    json_headers = {"Content-Type": "application/json"}
    return {
        "GET /healthz": ("GET", lambda i: "/healthz", None, {}),
        "GET /rows/<live row>": ("GET", lambda i: f"/rows/{live + i % 1000}", None, {}),
        "GET /rows/<pending row>": ("GET", lambda i: f"/rows/{pending + i % 1000}", None, {}),
        "cast ping to a live row": ("POST", lambda i: f"/rows/{live + i % 1000}/messages", PING, json_headers),
        "cast ping to a pending row": ("POST", lambda i: f"/rows/{pending + i % 1000}/messages", PING, json_headers),
    }


def main():
    with BenchPostgres() as pg, one_worker_service(pg, "request-cost.log") as service:
        _, run = service.post("/runs", {"rows": 2000, "max_concurrency": 1000, "start_value": 1_000_000,
                                        "tick_ms": 3_600_000})
        deadline = time.monotonic() + 10
        while service.get(f"/runs/{run['id']}")[1]["active"] < 1000 and time.monotonic() < deadline:
            time.sleep(0.1)
        (worker,) = service.workers()
        client = http.client.HTTPConnection("127.0.0.1", service.port)
        first = run["first_row_id"]
        print(f"{'request':28s} {'worker CPU':>12s} {'PostgreSQL CPU':>15s} {'round trip':>11s}")
        for name, (method, path, body, headers) in kinds(first, first + 1000).items():
            cpu0, pg0, wall0 = sum(worker.cpu_times()[:2]), pg.cpu_s(), time.perf_counter()
            for i in range(REQUESTS):
                client.request(method, path(i), body=body, headers=headers)
                response = client.getresponse()
                response.read()
            wall = time.perf_counter() - wall0
            time.sleep(0.3)  # the row servers apply the casts after the 202s
            cpu, pg_cpu = sum(worker.cpu_times()[:2]) - cpu0, pg.cpu_s() - pg0
            print(f"{name:28s} {cpu / REQUESTS * 1e6:9.0f} µs {pg_cpu / REQUESTS * 1e6:12.0f} µs "
                  f"{wall / REQUESTS * 1e6:8.0f} µs   (last status {response.status})")


if __name__ == "__main__":
    main()
