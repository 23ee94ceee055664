-- A run's row counts by state, and its summed ticks and restarts, kept as rows change: reading them
-- costs one counter row per shard of the run, whatever its size (counting the rows themselves took
-- 250 ms at 1,000,000 rows).
--
-- One counter row per (run, shard). Every statement that inserts, updates or deletes rows adds what it
-- changed, summed per (run, shard), to those counter rows in its own transaction (statement-level
-- triggers with transition tables): the counts are always exactly those of the committed rows, and
-- every path that changes a row (claims, ticks, messages, restarts, stops, deletes) is counted without
-- anyone having to remember to. A shard's rows are written by the node holding its lease, so two
-- nodes' tick batches never wait on the same counter row; counter rows are upserted in (run, shard)
-- order, so two statements sharing several of them queue rather than deadlock. A statement that
-- changes only values (most messages) touches no counter row.
CREATE TABLE run_counts (
    run_id   bigint  NOT NULL REFERENCES runs (id),
    shard    integer NOT NULL,
    pending  bigint  NOT NULL DEFAULT 0,
    active   bigint  NOT NULL DEFAULT 0,
    idle     bigint  NOT NULL DEFAULT 0,
    done     bigint  NOT NULL DEFAULT 0,
    failed   bigint  NOT NULL DEFAULT 0,
    restarts bigint  NOT NULL DEFAULT 0,
    ticks    bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, shard)
);

INSERT INTO run_counts (run_id, shard, pending, active, idle, done, failed, restarts, ticks)
SELECT run_id, shard,
       count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'active'),
       count(*) FILTER (WHERE state = 'idle'), count(*) FILTER (WHERE state = 'done'),
       count(*) FILTER (WHERE state = 'failed'), sum(restarts), sum(ticks)
  FROM rows
 GROUP BY run_id, shard;

-- Each row a statement changed appears as its new version counted +1 and its old version counted -1
-- (an insert has only the first, a delete only the second); summed per (run, shard), an update that
-- changed neither state, ticks nor restarts adds up to nothing and is left out.
CREATE FUNCTION greenrow_count_row_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_side constant text := 'SELECT run_id, shard, state, ticks, restarts, 1 AS sign FROM greenrow_new_rows';
    old_side constant text := 'SELECT run_id, shard, state, ticks, restarts, -1 AS sign FROM greenrow_old_rows';
BEGIN
    -- (EXECUTE: a transition table exists only for the events whose trigger names it)
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
        CASE TG_OP WHEN 'INSERT' THEN new_side
                   WHEN 'DELETE' THEN old_side
                   ELSE new_side || ' UNION ALL ' || old_side END);
    RETURN NULL;
END $$;

CREATE TRIGGER rows_counted_on_insert AFTER INSERT ON rows
    REFERENCING NEW TABLE AS greenrow_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION greenrow_count_row_changes();
CREATE TRIGGER rows_counted_on_update AFTER UPDATE ON rows
    REFERENCING OLD TABLE AS greenrow_old_rows NEW TABLE AS greenrow_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION greenrow_count_row_changes();
CREATE TRIGGER rows_counted_on_delete AFTER DELETE ON rows
    REFERENCING OLD TABLE AS greenrow_old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION greenrow_count_row_changes();
