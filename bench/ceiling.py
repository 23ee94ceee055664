"""The batched-UPDATE ceiling: how many rows/s one connection commits with greenrow's kind of statement.

Fills ``ceiling_rows(id bigint primary key, value int)`` with ``--rows`` rows, then for
``--seconds`` runs ``UPDATE ceiling_rows SET value = value - 1 FROM unnest(%s::bigint[]) ...`` with
``--batch`` ids per statement (consecutive ids, cycling through the table), each statement its own
committed transaction. Prints one JSON object: rows/s, statements, commit time per statement.

    python bench/ceiling.py --dsn postgresql://postgres@127.0.0.1:5432/bench_ceiling
"""
import argparse
import json
import time

import psycopg2

UPDATE = ("UPDATE ceiling_rows t SET value = t.value - 1 "
          "FROM unnest(%s::bigint[]) AS u(id) WHERE t.id = u.id")


def measure(dsn, rows, batch, seconds):
    conn = psycopg2.connect(dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS ceiling_rows")
            cur.execute("CREATE TABLE ceiling_rows (id bigint PRIMARY KEY, value int NOT NULL)")
            cur.execute("INSERT INTO ceiling_rows SELECT g, 1000000000 FROM generate_series(1, %s) g", (rows,))
            cur.execute("VACUUM ANALYZE ceiling_rows")
            cur.execute("CHECKPOINT")
        chunks = [list(range(start, min(start + batch, rows + 1))) for start in range(1, rows + 1, batch)]
        updated, statements, durations = 0, 0, []
        t0 = time.monotonic()
        deadline = t0 + seconds
        with conn.cursor() as cur:
            while time.monotonic() < deadline:
                ids = chunks[statements % len(chunks)]
                started = time.monotonic()
                cur.execute(UPDATE, (ids,))
                durations.append(time.monotonic() - started)
                updated += cur.rowcount
                statements += 1
        elapsed = time.monotonic() - t0
    finally:
        conn.close()
    durations.sort()
    return {
        "rows": rows, "batch": batch, "seconds": round(elapsed, 3), "statements": statements,
        "rows_updated": updated, "rows_per_s": round(updated / elapsed, 1),
        "statement_ms_mean": round(sum(durations) / len(durations) * 1000, 3),
        "statement_ms_p99": round(durations[max(0, int(len(durations) * 0.99) - 1)] * 1000, 3),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dsn", required=True)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=5_000)
    p.add_argument("--seconds", type=float, default=5.0)
    args = p.parse_args()
    if not (1 <= args.batch <= args.rows and 0 < args.seconds <= 60):
        p.error("need 1 <= batch <= rows and 0 < seconds <= 60")
    print(json.dumps(measure(args.dsn, args.rows, args.batch, args.seconds)))


if __name__ == "__main__":
    main()
