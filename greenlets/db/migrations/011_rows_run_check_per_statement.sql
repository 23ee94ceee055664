-- A row's run must exist, as the foreign key rows.run_id -> runs (id) of 001_schema.sql said; the rule
-- is now checked once per statement, where the foreign key checked it once per row.
--
-- Why: the foreign key looked up (and locked) the run of every inserted row on its own. create_run
-- inserts a run's rows in one statement, and those checks were half of its time: 110 of 220 ms for the
-- seed's 20,000 rows (EXPLAIN ANALYZE on this project's 2-core machine, 2026-12-04), about 5 s for
-- 1,000,000 rows (extrapolated). POST /runs answers only after them, and that time counts in every
-- run's makespan. With the check below create_run takes 100 ms.
--
-- The rule, kept by three triggers:
-- 1. Rows inserted: every run they name exists. One statement per inserting statement (a transition
--    table), and it locks those runs FOR KEY SHARE until the transaction ends, as the foreign key did.
-- 2. A row's run never changes: an UPDATE that sets run_id is refused (restrict_violation), before it
--    touches a row. No statement of greenrow's sets it (a run's rows are the ids create_run gave it). A
--    statement-level trigger that fires only for a statement setting run_id: ticks and claims never
--    meet it.
-- 3. Runs deleted: no row names any of them.
-- A violation of 1 or 3 raises foreign_key_violation (SQLSTATE 23503), as the foreign key did.
--
-- Why this holds under READ COMMITTED when an insert and the delete of its run race (each statement of
-- a VOLATILE PL/pgSQL function takes a new snapshot, after the locks its earlier statements waited for):
-- - The insert's check locked the run first: the DELETE of the run waits for that lock (a delete
--   conflicts with FOR KEY SHARE). Once the insert commits, the delete goes on, and its check, taken
--   after, sees the committed rows and raises. (The insert rolled back: no row, the delete stands.)
-- - The DELETE came first: the insert's FOR KEY SHARE waits for it. Once the delete commits, the locking
--   read skips the deleted run, and the existence check, taken after, does not find it and raises.
--   (The delete rolled back: the lock is granted and the run exists.)
-- (The run_counts upsert of the same statement, 004_run_counts.sql, checks its own foreign key to the
-- run and so takes the same lock; the check here does not count on it.)
-- tests/integration/test_run_references.py plays both orders.
ALTER TABLE rows DROP CONSTRAINT rows_run_id_fkey;

CREATE FUNCTION greenrow_inserted_rows_have_runs() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    missing bigint;
BEGIN
    PERFORM 1 FROM runs WHERE id IN (SELECT run_id FROM greenrow_new_rows) ORDER BY id FOR KEY SHARE;
    SELECT n.run_id INTO missing
      FROM (SELECT DISTINCT run_id FROM greenrow_new_rows) AS n
     WHERE NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = n.run_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'insert on table "rows" names a run that does not exist',
            DETAIL = format('Key (run_id)=(%s) is not present in table "runs".', missing);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER rows_run_exists_on_insert AFTER INSERT ON rows
    REFERENCING NEW TABLE AS greenrow_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION greenrow_inserted_rows_have_runs();

CREATE FUNCTION greenrow_refuse_run_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE restrict_violation USING MESSAGE = 'a row''s run never changes: rows.run_id cannot be updated';
END $$;

CREATE TRIGGER rows_run_never_changes BEFORE UPDATE OF run_id ON rows
    FOR EACH STATEMENT EXECUTE FUNCTION greenrow_refuse_run_change();

CREATE FUNCTION greenrow_deleted_runs_have_no_rows() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    referenced bigint;
BEGIN
    SELECT o.id INTO referenced
      FROM greenrow_old_runs o
     WHERE EXISTS (SELECT 1 FROM rows WHERE rows.run_id = o.id)
     LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'delete on table "runs" leaves rows without their run',
            DETAIL = format('Key (id)=(%s) is still referenced from table "rows".', referenced);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER runs_without_rows_on_delete AFTER DELETE ON runs
    REFERENCING OLD TABLE AS greenrow_old_runs
    FOR EACH STATEMENT EXECUTE FUNCTION greenrow_deleted_runs_have_no_rows();
