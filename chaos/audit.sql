-- The chaos audit: triggers that leave a trace of every committed tick, lease change and applied
-- message, and the named queries the checks run over those traces (chaos/audit.py).
-- Installed by the chaos harness and the tests after migration, never by the product. Each section
-- is looked up by its `-- name:` header (greenlets.db.queries.load); `install` is run as one script.
--
-- Why triggers: the product's own state cannot show a doubled tick. commit_ticks adds one tick per
-- decrement and stops at 0, so a row ticked twice for one due time still ends at 0 with start_value
-- ticks. A doubled or unfenced tick shows only in WHEN and BY WHOM each tick was committed.

-- name: install
-- The audit tables and triggers (idempotent: drops and recreates them).
DROP TRIGGER IF EXISTS chaos_tick_audit ON rows;
DROP TRIGGER IF EXISTS chaos_lease_audit ON shard_leases;
DROP TRIGGER IF EXISTS chaos_message_audit ON messages;
DROP TABLE IF EXISTS tick_audit, lease_audit, message_audit;
DROP SEQUENCE IF EXISTS message_audit_commit_order;

-- One row per committed tick. A trigger's inserts commit or roll back with the statement that fired
-- it, so a refused or rolled-back tick leaves no trace and every committed one leaves exactly one.
CREATE TABLE tick_audit (
    id               bigserial PRIMARY KEY,
    row_id           bigint NOT NULL,
    shard            integer NOT NULL,
    tick             integer NOT NULL,       -- NEW.ticks: the tick's number within its row
    value            integer NOT NULL,       -- NEW.value
    committed_at     timestamptz NOT NULL,   -- clock_timestamp() in the writing statement
    statement_now    timestamptz NOT NULL,   -- now(): the instant the product's fence compares leases with
    txid             bigint NOT NULL,
    node_id          text,                   -- the writer: its application_name without "greenrow "
    writer_epoch     bigint,                 -- NEW.epoch (migration 003), NULL before that column exists
    lease_node_id    text,                   -- the row's shard lease as the trigger reads it (latest committed)
    lease_epoch      bigint,
    lease_expires_at timestamptz
);
CREATE INDEX tick_audit_row ON tick_audit (row_id, tick);

-- One row per change of a shard's holder or epoch (renewals, which only move expires_at, are left out).
CREATE TABLE lease_audit (
    id          bigserial PRIMARY KEY,
    shard       integer NOT NULL,
    old_node_id text,
    new_node_id text,
    old_epoch   bigint NOT NULL,
    new_epoch   bigint NOT NULL,
    changed_at  timestamptz NOT NULL,
    by_node_id  text
);

-- One row per message removed from an inbox by a committed transaction (applied, or discarded).
-- commit_order comes from a sequence read at COMMIT (a deferred constraint trigger): two transactions
-- applying messages of one row both hold that row's lock (apply_message's FOR UPDATE) until they
-- commit, so for one row commit_order is the order the effects were committed in, not the order the
-- DELETEs ran in (an old owner can DELETE first and commit last: exactly the reordering to catch).
CREATE SEQUENCE message_audit_commit_order;
CREATE TABLE message_audit (
    id           bigserial PRIMARY KEY,
    commit_order bigint NOT NULL,
    row_id       bigint NOT NULL,
    message_id   bigint NOT NULL,
    type         text NOT NULL,
    body         jsonb NOT NULL,
    deleted_at   timestamptz NOT NULL,
    node_id      text
);
CREATE INDEX message_audit_row ON message_audit (row_id, commit_order);

-- The node behind this session: the product names its connections "greenrow <node id>".
CREATE OR REPLACE FUNCTION chaos_writer_node() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT NULLIF(regexp_replace(current_setting('application_name'), '^greenrow ?', ''), '')
$$;

CREATE OR REPLACE FUNCTION chaos_audit_tick() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lease shard_leases%ROWTYPE;
BEGIN
    -- A plpgsql query takes a fresh snapshot (READ COMMITTED): this is the lease as committed now,
    -- which is what a fence must agree with, not what the writing statement's snapshot saw.
    SELECT * INTO lease FROM shard_leases WHERE shard = NEW.shard;
    INSERT INTO tick_audit (row_id, shard, tick, value, committed_at, statement_now, txid, node_id,
                            writer_epoch, lease_node_id, lease_epoch, lease_expires_at)
    VALUES (NEW.id, NEW.shard, NEW.ticks, NEW.value, clock_timestamp(), now(), txid_current(),
            chaos_writer_node(), (to_jsonb(NEW) ->> 'epoch')::bigint,  -- NULL until rows.epoch exists
            lease.node_id, lease.epoch, lease.expires_at);
    RETURN NULL;
END $$;

CREATE TRIGGER chaos_tick_audit AFTER UPDATE ON rows
    FOR EACH ROW WHEN (NEW.ticks <> OLD.ticks) EXECUTE FUNCTION chaos_audit_tick();

CREATE OR REPLACE FUNCTION chaos_audit_lease() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lease_audit (shard, old_node_id, new_node_id, old_epoch, new_epoch, changed_at, by_node_id)
    VALUES (NEW.shard, OLD.node_id, NEW.node_id, OLD.epoch, NEW.epoch, clock_timestamp(), chaos_writer_node());
    RETURN NULL;
END $$;

CREATE TRIGGER chaos_lease_audit AFTER UPDATE ON shard_leases
    FOR EACH ROW WHEN (NEW.node_id IS DISTINCT FROM OLD.node_id OR NEW.epoch <> OLD.epoch)
    EXECUTE FUNCTION chaos_audit_lease();

CREATE OR REPLACE FUNCTION chaos_audit_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_audit (commit_order, row_id, message_id, type, body, deleted_at, node_id)
    VALUES (nextval('message_audit_commit_order'), OLD.row_id, OLD.id, OLD.type, OLD.body,
            clock_timestamp(), chaos_writer_node());
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER chaos_message_audit AFTER DELETE ON messages
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION chaos_audit_message();

-- name: ticks_too_close
-- Two consecutive ticks of a row less than min_gap_ms apart. Catches a doubled tick (two servers for
-- one row, an old owner and a new one, each on its own schedule) and a burst of catch-up ticks after a
-- late one: both commit the row's next tick well before tick_ms has passed since the previous one.
SELECT row_id, tick, node_id, prev_node_id,
       round(extract(epoch FROM committed_at - prev_at)::numeric * 1000, 1) AS gap_ms,
       prev_at, committed_at
  FROM (SELECT a.*, lag(a.committed_at) OVER w AS prev_at, lag(a.node_id) OVER w AS prev_node_id
          FROM tick_audit a JOIN rows r ON r.id = a.row_id
         WHERE r.run_id = ANY(%(run_ids)s)
        WINDOW w AS (PARTITION BY a.row_id ORDER BY a.tick, a.id)) AS t
 WHERE prev_at IS NOT NULL AND committed_at - prev_at < make_interval(secs => %(min_gap_ms)s / 1000.0)
 ORDER BY row_id, tick;

-- name: ticks_numbered_twice
-- A tick number of a row committed more than once (by one node or by two). ticks only ever grows by
-- one under the row's lock, so two commits for one number mean two writers each computed it from a
-- stale copy of the row: the lost-update shape a missing fence produces.
SELECT row_id, tick, count(*) AS commits, array_agg(DISTINCT node_id) AS nodes,
       min(committed_at) AS first_at, max(committed_at) AS last_at
  FROM tick_audit a
 WHERE row_id IN (SELECT id FROM rows WHERE run_id = ANY(%(run_ids)s))
 GROUP BY row_id, tick
HAVING count(*) > 1
 ORDER BY row_id, tick;

-- name: ticks_outside_lease
-- Ticks committed by a node that did not hold the shard's lease as committed at that moment: another
-- holder, or another epoch than the one the writer named (rows.epoch, migration 003). Catches an unfenced
-- write: a statement that waited on a row lock across a takeover, a paused node writing after SIGCONT.
-- A writer that names no epoch is fenced by expiry alone, so for it a lease expired before the statement
-- began is a violation too. With epochs, a lease past its expiry that nobody has taken over is still the
-- writer's epoch (a takeover bumps the epoch, and waits for the writer's FOR SHARE lock on the lease
-- row), so no second node can commit for that shard: counted by ticks_on_expired_lease, not reported.
SELECT row_id, tick, shard, node_id, writer_epoch, lease_node_id, lease_epoch, lease_expires_at,
       statement_now, committed_at
  FROM tick_audit a
 WHERE row_id IN (SELECT id FROM rows WHERE run_id = ANY(%(run_ids)s))
   AND (node_id IS DISTINCT FROM lease_node_id
        OR (writer_epoch IS NOT NULL AND writer_epoch IS DISTINCT FROM lease_epoch)
        OR (writer_epoch IS NULL AND lease_expires_at <= statement_now))
 ORDER BY committed_at;

-- name: ticks_on_expired_lease
-- Ticks by the lease holder in its epoch after its lease's expiry (nobody had taken the shard yet): a
-- lease keeper that fell behind. Safe under epoch fencing (see ticks_outside_lease); a figure of the run.
SELECT count(*) AS ticks, count(DISTINCT node_id) AS nodes
  FROM tick_audit
 WHERE row_id IN (SELECT id FROM rows WHERE run_id = ANY(%(run_ids)s))
   AND writer_epoch IS NOT NULL AND node_id = lease_node_id AND writer_epoch = lease_epoch
   AND lease_expires_at <= statement_now;

-- name: ticks_per_row
-- Each row of the given runs with its end state and its audited ticks, for the end-of-run check.
SELECT r.id, r.run_id, r.value, r.state, r.ticks, r.restarts, run.start_value, run.step,
       (SELECT count(*) FROM tick_audit a WHERE a.row_id = r.id) AS audited
  FROM rows r JOIN runs run ON run.id = r.run_id
 WHERE r.run_id = ANY(%(run_ids)s)
 ORDER BY r.id;

-- name: messages_out_of_order
-- A message of a row committed after a later message of the same row. The inbox is FIFO per row
-- (arrival order is a promise): this catches SKIP LOCKED on the oldest message, where a new owner
-- takes message n+1 while an old owner (or a server killed mid-apply) still holds message n.
SELECT row_id, message_id, prev_message_id, node_id, prev_node_id, deleted_at, prev_deleted_at
  FROM (SELECT m.*, max(m.message_id) OVER w AS prev_message_id,
               lag(m.node_id) OVER w AS prev_node_id, lag(m.deleted_at) OVER w AS prev_deleted_at
          FROM message_audit m
         WHERE row_id = ANY(%(row_ids)s)
        WINDOW w AS (PARTITION BY m.row_id ORDER BY m.commit_order
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS t
 WHERE message_id < prev_message_id
 ORDER BY row_id, commit_order;

-- name: messages_applied_twice
-- A message removed from its inbox by more than one committed transaction. The DELETE and the effect
-- commit together, so two removals mean two effects (a message applied twice).
SELECT message_id, row_id, count(*) AS removals, array_agg(node_id) AS nodes
  FROM message_audit
 WHERE row_id = ANY(%(row_ids)s)
 GROUP BY message_id, row_id
HAVING count(*) > 1;

-- name: applied_messages
-- Every audited removal of the given rows' messages, in commit order.
SELECT row_id, message_id, type, body, node_id, deleted_at
  FROM message_audit
 WHERE row_id = ANY(%(row_ids)s)
 ORDER BY row_id, commit_order;

-- name: tick_recovery
-- After a fault: seconds from its end until every row that was ticking when it began (a tick within
-- the last 1.5 tick_ms, with ticks still to come) has ticked again, and how many of them never did.
-- Even a row the fault did not touch takes up to tick_ms to tick again: that is the figure's floor.
WITH in_flight AS (
    SELECT DISTINCT ON (row_id) row_id, tick FROM tick_audit
     WHERE committed_at <= %(started_at)s AND value > 0
       AND committed_at > %(started_at)s - make_interval(secs => 1.5 * %(tick_ms)s / 1000.0)
     ORDER BY row_id, tick DESC),
resumed AS (
    SELECT f.row_id, min(a.committed_at) AS first_tick
      FROM in_flight f LEFT JOIN tick_audit a ON a.row_id = f.row_id AND a.tick > f.tick
                                              AND a.committed_at > %(ended_at)s
     GROUP BY f.row_id)
SELECT extract(epoch FROM max(first_tick) - %(ended_at)s)::float AS resume_s,
       count(*) FILTER (WHERE first_tick IS NULL) AS never_resumed
  FROM resumed;

-- name: row_restarts
-- Restarts counted on the rows of the given runs: the chaos run crashes no row server on purpose, so
-- each one is a fault the product took for a crash (a figure: a database outage must not count).
SELECT coalesce(sum(restarts), 0)::bigint AS restarts, count(*) FILTER (WHERE restarts > 0) AS rows
  FROM rows WHERE run_id = ANY(%(run_ids)s);
