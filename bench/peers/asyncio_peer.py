"""The seed scenario written the way a Python user would without greenrow: asyncio + asyncpg.

One asyncio task per row, one asyncpg pool. Each tick a task runs
``UPDATE ... SET value = value - 1 ... RETURNING value`` in its own transaction
(BEGIN / UPDATE / COMMIT), then sleeps until ``commit + tick``; it stops when the value
reaches 0. A monitor keeps up to ``--concurrency`` tasks alive, refilling as they finish and
re-checking every 2 s, and ends when every row is 0. Prints one JSON object on stdout, with
the figure names of the Elixir reference (shared/bench/elixir/seed_scenario.exs).

    python bench/peers/asyncio_peer.py --dsn postgresql://postgres@127.0.0.1:5432/peer \\
        --rows 20000 --concurrency 10000 --pool 20 --tick-ms 1000 --start-value 3
"""

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import sys
import time

import asyncpg

CHECK_INTERVAL_S = 2.0
DEADLINE_S = 3600.0

CREATE_TABLE = "CREATE TABLE peer_rows (id bigint PRIMARY KEY, value int NOT NULL)"
FILL_TABLE = "INSERT INTO peer_rows SELECT g, $2 FROM generate_series(1, $1::bigint) g"
TICK = "UPDATE peer_rows SET value = value - 1 WHERE id = $1 AND value > 0 RETURNING value"
NEXT_IDS = "SELECT id FROM peer_rows WHERE value > 0 AND id > $1 ORDER BY id LIMIT $2"
COUNT_REMAINING = "SELECT count(*) FROM peer_rows WHERE value > 0"
VERIFY = ("SELECT count(*) FILTER (WHERE value <> 0) AS nonzero, "
          "coalesce(sum(value), 0) AS sum_value, count(*) AS n FROM peer_rows")


class Stats:
    """Samples in seconds, kept as plain lists (60,000 ticks is small)."""

    def __init__(self):
        self.ticks = 0
        self.ticks_no_row_updated = 0
        self.tick_lateness = []
        self.first_tick_lateness = []
        self.response_time = []
        self.pool_wait = []
        self.db_time = []


def summary(samples):
    """count / mean / p50 / p90 / p99 / max in milliseconds, like BenchUtil.Hist.summary."""
    if not samples:
        return {"count": 0}
    s = sorted(samples)

    def pct(q):
        return s[max(1, math.ceil(q * len(s))) - 1]

    return {
        "count": len(s),
        "mean_ms": round(sum(s) / len(s) * 1000, 3),
        "p50_ms": round(pct(0.50) * 1000, 3),
        "p90_ms": round(pct(0.90) * 1000, 3),
        "p99_ms": round(pct(0.99) * 1000, 3),
        "max_ms": round(s[-1] * 1000, 3),
        "negative": sum(1 for x in s if x < 0),
    }


async def run_row(pool, row_id, tick, stats):
    """One row: wait a tick, then one transaction per tick until the value is 0."""
    loop = asyncio.get_running_loop()
    due = loop.time() + tick
    await asyncio.sleep(tick)
    stats.first_tick_lateness.append(loop.time() - due)
    last_commit = None
    while True:
        started = loop.time()
        async with pool.acquire() as conn:
            acquired = loop.time()
            async with conn.transaction():
                value = await conn.fetchval(TICK, row_id)
            committed = loop.time()
        stats.ticks += 1
        stats.pool_wait.append(acquired - started)
        stats.db_time.append(committed - acquired)
        stats.response_time.append(committed - started)
        if last_commit is not None:
            stats.tick_lateness.append(committed - (last_commit + tick))
        if value is None:
            stats.ticks_no_row_updated += 1
            return
        if value == 0:
            return
        last_commit = committed
        await asyncio.sleep(committed + tick - loop.time())


async def monitor(pool, concurrency, tick, stats):
    """Keep up to `concurrency` row tasks alive until every row is 0; returns its counters."""
    finished = asyncio.Queue()
    running = {}  # task -> row id
    counters = {"launched": 0, "crashed": 0, "refill_queries": 0, "peak_row_tasks": 0}
    cursor, exhausted = 0, False

    while True:
        free = concurrency - len(running)
        if not exhausted and free > 0:
            ids = [r["id"] for r in await pool.fetch(NEXT_IDS, cursor, free)]
            counters["refill_queries"] += 1
            for row_id in ids:
                task = asyncio.create_task(run_row(pool, row_id, tick, stats))
                task.add_done_callback(finished.put_nowait)
                running[task] = row_id
            counters["launched"] += len(ids)
            counters["peak_row_tasks"] = max(counters["peak_row_tasks"], len(running))
            cursor = ids[-1] if ids else cursor
            exhausted = len(ids) < free
        if exhausted and not running:
            if await pool.fetchval(COUNT_REMAINING) == 0:
                return counters
            cursor, exhausted = 0, False  # some row crashed: relaunch what is left
            continue
        try:
            done = [await asyncio.wait_for(finished.get(), CHECK_INTERVAL_S)]
        except asyncio.TimeoutError:
            continue
        while not finished.empty():
            done.append(finished.get_nowait())
        for task in done:
            row_id = running.pop(task)
            if task.exception() is not None:
                counters["crashed"] += 1
                print(f"row {row_id} crashed: {task.exception()!r}", file=sys.stderr)


async def seed(dsn, rows, start_value):
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS peer_rows")
        await conn.execute(CREATE_TABLE)
        await conn.execute(FILL_TABLE, rows, start_value)
        await conn.execute("VACUUM ANALYZE peer_rows")
    finally:
        await conn.close()


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main(args):
    t0 = time.monotonic()
    await seed(args.dsn, args.rows, args.start_value)
    seed_s = time.monotonic() - t0
    tick = args.tick_ms / 1000
    stats = Stats()

    async with asyncpg.create_pool(args.dsn, min_size=args.pool, max_size=args.pool) as pool:
        cpu0, t0 = cpu_s(), time.monotonic()
        async with asyncio.timeout(DEADLINE_S):
            counters = await monitor(pool, args.concurrency, tick, stats)
        makespan_s = time.monotonic() - t0
        cpu = cpu_s() - cpu0
        check = await pool.fetchrow(VERIFY)

    expected = args.rows * args.start_value
    all_zero = check["nonzero"] == 0 and check["sum_value"] == 0 and check["n"] == args.rows
    return {
        "impl": "python-asyncio (asyncpg pool, one task per row)",
        "python": platform.python_version(),
        "asyncpg": asyncpg.__version__,
        "n_rows": args.rows, "max_concurrency": args.concurrency, "pool_size": args.pool,
        "tick_ms": args.tick_ms, "start_value": args.start_value,
        "seed_s": round(seed_s, 3),
        "makespan_s": round(makespan_s, 3),
        "total_ticks": stats.ticks,
        "ticks_no_row_updated": stats.ticks_no_row_updated,
        "ticks_per_s": round(stats.ticks / makespan_s, 1),
        **counters,
        "tick_lateness": summary(stats.tick_lateness),
        "first_tick_lateness": summary(stats.first_tick_lateness),
        "response_time": summary(stats.response_time),
        "pool_wait": summary(stats.pool_wait),
        "db_time": summary(stats.db_time),
        "cpu_s": round(cpu, 2),
        "cpu_s_per_1000_ticks": round(cpu / max(stats.ticks, 1) * 1000, 4),
        "cpu_pct_avg": round(cpu / makespan_s * 100, 1),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "check_rows_nonzero": check["nonzero"],
        "check_sum_value": check["sum_value"],
        "check_ticks_expected": expected,
        "verified": all_zero and stats.ticks == expected,
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dsn", default=os.environ.get("PEER_DSN"),
                   help="PostgreSQL DSN (default: $PEER_DSN); table peer_rows is recreated there")
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=10000, help="max row tasks alive at once")
    p.add_argument("--pool", type=int, default=20, help="asyncpg pool size")
    p.add_argument("--tick-ms", type=int, default=1000)
    p.add_argument("--start-value", type=int, default=3)
    args = p.parse_args(argv)
    if not args.dsn:
        p.error("a DSN is required: --dsn or PEER_DSN")
    if min(args.rows, args.concurrency, args.pool, args.start_value) < 1 or args.tick_ms < 0:
        p.error("rows, concurrency, pool and start-value must be >= 1, tick-ms >= 0")
    return args


if __name__ == "__main__":
    result = asyncio.run(main(parse_args()))
    print(json.dumps(result))
    sys.exit(0 if result["verified"] else 1)
