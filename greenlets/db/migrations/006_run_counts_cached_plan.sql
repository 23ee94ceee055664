-- The run-count trigger of 004 built its statement with EXECUTE, planned anew on every change to rows:
-- about half a millisecond of PostgreSQL CPU on each applied message and each tick batch, which made
-- the bench's ticks late under HTTP load. Updates (ticks, claims, messages, stops: the hot path) now
-- run a static statement, planned once per session; inserts and deletes (creating and deleting runs)
-- keep the EXECUTE, since a transition table exists only for its own trigger's event.
CREATE OR REPLACE FUNCTION greenrow_count_row_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_side constant text := 'SELECT run_id, shard, state, ticks, restarts, 1 AS sign FROM greenrow_new_rows';
    old_side constant text := 'SELECT run_id, shard, state, ticks, restarts, -1 AS sign FROM greenrow_old_rows';
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO run_counts AS c (run_id, shard, pending, active, idle, done, failed, restarts, ticks)
        SELECT change.run_id, change.shard, change.pending, change.active, change.idle, change.done,
               change.failed, change.restarts, change.ticks
          FROM (SELECT version.run_id, version.shard,
                       sum(version.sign * (version.state = 'pending')::int) AS pending,
                       sum(version.sign * (version.state = 'active')::int)  AS active,
                       sum(version.sign * (version.state = 'idle')::int)    AS idle,
                       sum(version.sign * (version.state = 'done')::int)    AS done,
                       sum(version.sign * (version.state = 'failed')::int)  AS failed,
                       sum(version.sign * version.restarts) AS restarts, sum(version.sign * version.ticks) AS ticks
                  FROM (SELECT n.run_id, n.shard, n.state, n.ticks, n.restarts, 1 AS sign FROM greenrow_new_rows n
                        UNION ALL
                        SELECT o.run_id, o.shard, o.state, o.ticks, o.restarts, -1 AS sign FROM greenrow_old_rows o
                       ) AS version
                 GROUP BY version.run_id, version.shard) AS change
         WHERE (change.pending, change.active, change.idle, change.done, change.failed, change.restarts,
                change.ticks) <> (0, 0, 0, 0, 0, 0, 0)
         ORDER BY change.run_id, change.shard
        ON CONFLICT (run_id, shard) DO UPDATE
           SET pending = c.pending + EXCLUDED.pending, active = c.active + EXCLUDED.active,
               idle = c.idle + EXCLUDED.idle, done = c.done + EXCLUDED.done,
               failed = c.failed + EXCLUDED.failed, restarts = c.restarts + EXCLUDED.restarts,
               ticks = c.ticks + EXCLUDED.ticks;
        RETURN NULL;
    END IF;
    EXECUTE format($sql$
        INSERT INTO run_counts AS c (run_id, shard, pending, active, idle, done, failed, restarts, ticks)
        SELECT run_id, shard, pending, active, idle, done, failed, restarts, ticks
          FROM (SELECT run_id, shard,
                       sum(sign * (state = 'pending')::int) AS pending,
                       sum(sign * (state = 'active')::int)  AS active,
                       sum(sign * (state = 'idle')::int)    AS idle,
                       sum(sign * (state = 'done')::int)    AS done,
                       sum(sign * (state = 'failed')::int)  AS failed,
                       sum(sign * restarts) AS restarts, sum(sign * ticks) AS ticks
                  FROM (%s) AS version
                 GROUP BY run_id, shard) AS change
         WHERE (pending, active, idle, done, failed, restarts, ticks) <> (0, 0, 0, 0, 0, 0, 0)
         ORDER BY run_id, shard
        ON CONFLICT (run_id, shard) DO UPDATE
           SET pending = c.pending + EXCLUDED.pending, active = c.active + EXCLUDED.active,
               idle = c.idle + EXCLUDED.idle, done = c.done + EXCLUDED.done,
               failed = c.failed + EXCLUDED.failed, restarts = c.restarts + EXCLUDED.restarts,
               ticks = c.ticks + EXCLUDED.ticks
        $sql$,
        CASE TG_OP WHEN 'INSERT' THEN new_side ELSE old_side END);
    RETURN NULL;
END $$;
