"""What a run view costs as runs grow: `python bench/run_view.py [sizes...]` (default 1000 100000 1000000).

One worker (WORKERS=1) on the bench PostgreSQL. For each size, a run of that many rows whose rows barely
move (100 live at a time, their first tick an hour away), then REQUESTS keep-alive requests of
`GET /runs/<id>` and of `GET /runs?limit=20` one after the other: the median and p99 round trip of each.
A run's counts are read from its counter rows (one per shard: migrations/004_run_counts.sql), so the
figures should not grow with the run's size.
"""
import http.client
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[0] = str(REPO)

from bench.pg import BenchPostgres  # noqa: E402
from bench.service import one_worker_service  # noqa: E402

REQUESTS = 300
SIZES = (1_000, 100_000, 1_000_000)


def round_trips_ms(client, path):
    times = []
    for _ in range(REQUESTS):
        began = time.perf_counter()
        client.request("GET", path)
        response = client.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main(sizes):
    with BenchPostgres() as pg, one_worker_service(pg, "run-view.log") as service:
        print(f"{'run size':>10s} {'GET /runs/<id> p50 / p99':>26s} {'GET /runs?limit=20 p50 / p99':>30s}")
        for size in sizes:
            status, run = service.post("/runs", {"rows": size, "max_concurrency": 100, "start_value": 1_000_000,
                                                 "tick_ms": 3_600_000}, timeout=300)
            assert status == 201, run
            # a connection of its own for each size: an idle keep-alive connection is closed by gunicorn
            # while a big run is created
            client = http.client.HTTPConnection("127.0.0.1", service.port, timeout=120)
            one = round_trips_ms(client, f"/runs/{run['id']}")
            recent = round_trips_ms(client, "/runs?limit=20")
            print(f"{size:>10,d} {one[0]:>12.2f} / {one[1]:.2f} ms {recent[0]:>15.2f} / {recent[1]:.2f} ms",
                  flush=True)

if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or SIZES)
