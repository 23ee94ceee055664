"""The seed run posted the moment a fresh `make run` first says it is ready: its makespan over the ideal.

Issue 8 asks that a run started as soon as /readyz answers 200 finishes as fast as later runs (within
1.15x ideal): readiness waits until every worker is up and the shards are balanced, so no row changes
hands mid-run. Each try starts greenrow the README's way on a fresh database of the bench's PostgreSQL
(bench/pg.py), posts `{"rows": 20000, "max_concurrency": 10000}` the moment /readyz answers 200
(bench/service.py returns then), polls the run until it is done and stops the service.

    .venv/bin/python bench/first_run.py [tries, default 3]
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pg import BenchPostgres  # noqa: E402
from bench.phase_greenrow import ideal_makespan_s  # noqa: E402
from bench.service import GreenrowService  # noqa: E402

ROWS, CONCURRENCY = 20_000, 10_000
DATABASE = "greenrow_first_run"
RUN_TIMEOUT_S = 120
LOGS = Path(__file__).resolve().parent.parent / "var" / "bench-logs" / "first-run"


def one_try(pg, number):
    pg.recreate_database(DATABASE)
    with GreenrowService(pg.url(DATABASE), LOGS / f"try-{number}.log") as service:  # returns at the first 200
        status, run = service.post("/runs", {"rows": ROWS, "max_concurrency": CONCURRENCY})
        assert status == 201, run
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while run["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.25)
            run = service.get(f"/runs/{run['id']}")[1]
        assert run["status"] == "done" and run["ticks"] == ROWS * 3, run
        return run["elapsed_s"]


def main(tries):
    ideal = ideal_makespan_s(ROWS, CONCURRENCY)
    with BenchPostgres() as pg:
        makespans = [one_try(pg, number) for number in range(1, tries + 1)]
    for number, makespan in enumerate(makespans, 1):
        print(f"try {number}: makespan {makespan:.2f} s = {makespan / ideal:.3f} x ideal ({ideal:.1f} s)")
    median = statistics.median(makespans)
    print(f"median: {median:.2f} s = {median / ideal:.3f} x ideal")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
