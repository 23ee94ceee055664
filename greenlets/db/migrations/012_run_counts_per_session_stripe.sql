-- A run's counter rows (004_run_counts.sql) are kept per (run, stripe), where a statement's stripe is its
-- database session's: the backend's process id modulo 64. They were kept per (run, shard).
--
-- Why: a tick batch names rows of most of its node's shards, so it upserted one counter row per shard:
-- about 80 for a 100-row batch, 180 for 300 rows. That was a quarter to a third of commit_ticks'
-- PostgreSQL CPU (0.3-0.5 ms of 1.3-1.6 ms per 100-row batch, 0.4-0.9 of 2.3-2.9 ms per 300 rows,
-- measured on this project's 2-core machine, 2026-12-04). And a node's two tick writers took turns: the
-- second batch's upsert met counter rows the first one had locked, and waited for its commit (its WAL
-- flush included). A statement now adds its changes to one counter row per run it touches, its
-- session's, so tick writers (and claims, messages, stops) of different sessions do not meet.
--
-- Nothing reads a count per shard: every reader sums a run's counter rows (queries.sql: runs_with_counts,
-- running_load), and a sum does not care how the changes were split, so the counts stay exactly those
-- of the committed rows (004's argument holds unchanged). The counter rows kept per shard until now stay
-- as they are: they are summed like the others (a stripe number that equals an old shard number adds to
-- that row). Two sessions whose process ids share a stripe take turns on its counter rows, as two
-- tick writers did before; a statement upserts its rows in run order, so they queue rather than deadlock.
-- At most 64 counter rows per run, whatever its size and however many sessions wrote to it.
ALTER TABLE run_counts RENAME COLUMN shard TO stripe;

CREATE OR REPLACE FUNCTION greenrow_count_row_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_stripe constant integer := pg_backend_pid() % 64;  -- this session's
    new_side constant text := 'SELECT run_id, state, ticks, restarts, 1 AS sign FROM greenrow_new_rows';
    old_side constant text := 'SELECT run_id, state, ticks, restarts, -1 AS sign FROM greenrow_old_rows';
BEGIN
    IF TG_OP = 'UPDATE' THEN  -- the hot path, a static statement planned once per session (006)
        INSERT INTO run_counts AS c (run_id, stripe, pending, active, idle, done, failed, restarts, ticks)
        SELECT change.run_id, v_stripe, change.pending, change.active, change.idle, change.done,
               change.failed, change.restarts, change.ticks
          FROM (SELECT version.run_id,
                       sum(version.sign * (version.state = 'pending')::int) AS pending,
                       sum(version.sign * (version.state = 'active')::int)  AS active,
                       sum(version.sign * (version.state = 'idle')::int)    AS idle,
                       sum(version.sign * (version.state = 'done')::int)    AS done,
                       sum(version.sign * (version.state = 'failed')::int)  AS failed,
                       sum(version.sign * version.restarts) AS restarts, sum(version.sign * version.ticks) AS ticks
                  FROM (SELECT n.run_id, n.state, n.ticks, n.restarts, 1 AS sign FROM greenrow_new_rows n
                        UNION ALL
                        SELECT o.run_id, o.state, o.ticks, o.restarts, -1 AS sign FROM greenrow_old_rows o
                       ) AS version
                 GROUP BY version.run_id) AS change
         WHERE (change.pending, change.active, change.idle, change.done, change.failed, change.restarts,
                change.ticks) <> (0, 0, 0, 0, 0, 0, 0)
         ORDER BY change.run_id
        ON CONFLICT (run_id, stripe) DO UPDATE
           SET pending = c.pending + EXCLUDED.pending, active = c.active + EXCLUDED.active,
               idle = c.idle + EXCLUDED.idle, done = c.done + EXCLUDED.done,
               failed = c.failed + EXCLUDED.failed, restarts = c.restarts + EXCLUDED.restarts,
               ticks = c.ticks + EXCLUDED.ticks;
        RETURN NULL;
    END IF;
    -- (EXECUTE: a transition table exists only for the events whose trigger names it)
    EXECUTE format($sql$
        INSERT INTO run_counts AS c (run_id, stripe, pending, active, idle, done, failed, restarts, ticks)
        SELECT run_id, %s, pending, active, idle, done, failed, restarts, ticks
          FROM (SELECT run_id,
                       sum(sign * (state = 'pending')::int) AS pending,
                       sum(sign * (state = 'active')::int)  AS active,
                       sum(sign * (state = 'idle')::int)    AS idle,
                       sum(sign * (state = 'done')::int)    AS done,
                       sum(sign * (state = 'failed')::int)  AS failed,
                       sum(sign * restarts) AS restarts, sum(sign * ticks) AS ticks
                  FROM (%s) AS version
                 GROUP BY run_id) AS change
         WHERE (pending, active, idle, done, failed, restarts, ticks) <> (0, 0, 0, 0, 0, 0, 0)
         ORDER BY run_id
        ON CONFLICT (run_id, stripe) DO UPDATE
           SET pending = c.pending + EXCLUDED.pending, active = c.active + EXCLUDED.active,
               idle = c.idle + EXCLUDED.idle, done = c.done + EXCLUDED.done,
               failed = c.failed + EXCLUDED.failed, restarts = c.restarts + EXCLUDED.restarts,
               ticks = c.ticks + EXCLUDED.ticks
        $sql$,
        v_stripe, CASE TG_OP WHEN 'INSERT' THEN new_side ELSE old_side END);
    RETURN NULL;
END $$;
