-- Every runtime query of greenrow, each under a `-- name: NAME` header with one line saying what it
-- does. Looked up by name through greenlets.db.queries. Parameters are psycopg2 %(name)s style.
--
-- Fencing. "Fenced" means the statement only takes effect while this node holds the row's shard lease
-- at the epoch the writer names (the epoch of the term in which its row server was started), and it
-- takes that lease row FOR SHARE before it touches a row, keeping it locked until the statement's
-- transaction commits. Why that is enough under READ COMMITTED:
-- - a takeover changes the lease with an UPDATE (claim_free_shards, FOR UPDATE SKIP LOCKED): it skips
--   a lease a writer holds FOR SHARE, so no takeover commits between a fenced write's check and its
--   commit; the shard is taken at the next round, after the write;
-- - a writer that reaches a lease row being changed by a takeover waits for it, and PostgreSQL then
--   re-reads the committed lease (READ COMMITTED re-checks a locked row): the node or the epoch no
--   longer match and the write does nothing;
-- - the epoch, not only the node, is compared: a node that lost a shard and took it back (a new
--   epoch) cannot commit a tick of a row server left over from its earlier term;
-- - expiry is not part of the fence: a lease that expired but that nobody took yet is still safely
--   this node's (nobody else can write for the shard until they take it, and taking it changes the
--   epoch). Expiry only decides when others may take it (claim_free_shards).
-- Every statement that locks lease rows locks them in shard order (ORDER BY shard FOR SHARE/UPDATE),
-- and lease rows before rows, so fenced writes, renewals and releases never deadlock each other.

-- name: meta_set_default
-- Store a cluster-wide setting unless one is already stored; returns the stored value.
-- (DO UPDATE, not DO NOTHING: a node racing another one's first insert still gets the stored value.)
INSERT INTO greenrow_meta (key, value) VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO UPDATE SET value = greenrow_meta.value
RETURNING value;

-- name: create_run
-- Allocate a contiguous id range, insert the run and all its rows in one statement; returns the run
-- with the counts of runs_with_counts as they are at its creation (no monitor has claimed a row yet).
WITH alloc AS (
    UPDATE row_id_counter SET next_id = next_id + %(rows)s
    RETURNING next_id - %(rows)s AS first_id),
run AS (
    INSERT INTO runs (rows, first_row_id, last_row_id, start_value, step, tick_ms, scan_ms, max_concurrency)
    SELECT %(rows)s, first_id, first_id + %(rows)s - 1, %(start_value)s, %(step)s, %(tick_ms)s,
           %(scan_ms)s, %(max_concurrency)s
      FROM alloc
    RETURNING *),
inserted AS (
    INSERT INTO rows (id, run_id, shard, value, state)
    SELECT g, run.id, (g %% %(shards)s)::integer, run.start_value,
           CASE WHEN run.start_value = 0 THEN 'done' ELSE 'pending' END
      FROM run, generate_series(run.first_row_id, run.last_row_id) AS g
    RETURNING 1)
SELECT run.*, (SELECT count(*) FROM inserted) AS inserted,
       CASE WHEN run.start_value = 0 THEN 0 ELSE run.rows END AS pending,
       0 AS active, 0 AS idle,
       CASE WHEN run.start_value = 0 THEN run.rows ELSE 0 END AS done,
       0 AS failed, 0::bigint AS restarts, 0::bigint AS ticks
  FROM run;

-- name: lock_run_creation
-- Take the cluster's run-creation lock for the rest of the transaction: runs are created one at a time,
-- so the limits checked against running_load before create_run hold exactly (two nodes creating runs
-- at once would both see room for one more). A transaction-scoped advisory lock; its key is positive
-- and unlike the migrations' (insert_message's inbox locks are negative).
SELECT pg_advisory_xact_lock(1735552627);

-- name: running_load
-- What the running runs ask of the cluster: their unfinished (pending or active) rows, from the counter
-- rows, and their peak tick rate, min(rows, max_concurrency) ticks every tick_ms, in ticks per second.
SELECT coalesce((SELECT sum(c.pending + c.active) FROM run_counts c JOIN runs r ON r.id = c.run_id
                  WHERE r.status = 'running'), 0)::bigint AS unfinished_rows,
       coalesce((SELECT sum(LEAST(rows, max_concurrency) * 1000.0 / tick_ms) FROM runs
                  WHERE status = 'running'), 0)::float8 AS tick_rate;

-- name: runs_with_counts
-- Runs (one by id, or the most recent) with their row counts by state and summed restarts and ticks,
-- read from the run's counter rows (kept by triggers, see migrations/004_run_counts.sql and
-- 012_run_counts_per_session_stripe.sql): at most 64 small rows per run whatever its size, never its rows.
SELECT run.*, c.pending, c.active, c.idle, c.done, c.failed, c.restarts, c.ticks
  FROM runs run
 CROSS JOIN LATERAL (
    SELECT coalesce(sum(pending), 0)::bigint AS pending, coalesce(sum(active), 0)::bigint AS active,
           coalesce(sum(idle), 0)::bigint AS idle, coalesce(sum(done), 0)::bigint AS done,
           coalesce(sum(failed), 0)::bigint AS failed, coalesce(sum(restarts), 0)::bigint AS restarts,
           coalesce(sum(ticks), 0)::bigint AS ticks
      FROM run_counts WHERE run_counts.run_id = run.id) AS c
 WHERE run.id IN (SELECT id FROM runs
                   WHERE %(run_id)s::bigint IS NULL OR id = %(run_id)s::bigint
                   ORDER BY id DESC LIMIT %(limit)s)
 ORDER BY run.id DESC;

-- name: running_runs
-- Every run that is still running, with the parameters its monitor needs.
SELECT * FROM runs WHERE status = 'running' ORDER BY id;

-- name: run_params
-- One run's parameters and status.
SELECT * FROM runs WHERE id = %(run_id)s;

-- name: stop_run
-- Mark a running run stopped; returns its id (no row when it was not running). Its rows are parked by
-- park_stopped_rows, in the same transaction and after it.
UPDATE runs SET status = 'stopped', finished_at = now()
 WHERE id = %(run_id)s AND status = 'running'
RETURNING id;

-- name: park_stopped_rows
-- Park as idle the unfinished rows of a stopped run, values as they are, passing over rows another
-- transaction holds (a tick batch committing): returns how many unfinished rows are left, for the caller
-- to park once they are free. SKIP LOCKED, because waiting would deadlock: tick batches lock their rows
-- in no particular order, and so would one statement parking a whole run. A row passed over is still
-- ticked by its server until the stop reaches that server; parking it then ends its ticks (commit_ticks
-- ticks active rows only). The count comes from the statement's snapshot, taken before the parking.
WITH stopped AS (SELECT id FROM runs WHERE id = %(run_id)s AND status = 'stopped'),
parked AS (
    UPDATE rows SET state = 'idle'
     WHERE id IN (SELECT id FROM rows
                   WHERE run_id IN (SELECT id FROM stopped) AND state IN ('pending', 'active')
                     FOR UPDATE SKIP LOCKED)
    RETURNING 1)
SELECT (SELECT count(*) FROM rows WHERE run_id IN (SELECT id FROM stopped) AND state IN ('pending', 'active'))
       - (SELECT count(*) FROM parked) AS unfinished;

-- name: finish_run
-- Mark a running run done once none of its rows is pending or active. Two statements in one round
-- trip (one transaction): the run row is locked first, so the count runs with a snapshot taken after
-- any message being applied to one of its rows has committed (apply_message holds the run row FOR
-- SHARE): a `set` reviving a row to pending cannot slip in between the check and the update and leave
-- a pending row in a done run that nothing would ever launch.
SELECT 1 FROM runs WHERE id = %(run_id)s FOR UPDATE;
UPDATE runs SET status = 'done', finished_at = now()
 WHERE id = %(run_id)s AND status = 'running'
   AND NOT EXISTS (SELECT 1 FROM rows WHERE run_id = %(run_id)s AND state IN ('pending', 'active'))
RETURNING id;

-- name: claim_pending_rows
-- Fenced: turn up to `limit` pending rows of a run in this node's shards into active ones, lowest ids
-- first, never taking the run's active rows (all nodes together) past max_concurrency; returns each
-- row with the lease epoch it was claimed under and how long ago it last ticked (a row handed over
-- from another node keeps its schedule).
-- Three statements in one round trip, which PostgreSQL runs as one transaction: the first locks the
-- run row, so claims from every node for a run take turns; the second locks this node's leases FOR
-- SHARE, in shard order (the fence: see the top of this file); the third counts the active rows with a
-- snapshot taken after those locks were granted, so it sees every claim committed before it (in a
-- single statement the count would come from a snapshot taken before the wait, and miss the rows a
-- peer's claim had just made active: the cap was exceeded by half). Nothing else makes a row active,
-- so the count plus what this claim takes never exceeds max_concurrency. The run's status is read
-- after the lock too, so a run stopped meanwhile launches nothing. (The leases are read from the table,
-- locked and so stable, not from a CTE: the planner, guessing a CTE holds one row, chose plans that
-- compared every row with every lease and made a 5,000-row claim take half a second.) The pending rows
-- are locked FOR NO KEY UPDATE (what the UPDATE takes anyway), not FOR UPDATE: claims still skip each
-- other's rows and rows being applied (apply_message takes the same lock), but a cast to a row being
-- claimed no longer waits for the claim to commit (its message's foreign key check takes FOR KEY SHARE,
-- which FOR UPDATE blocks): in a seed run under the bench's HTTP load, insert_message took 0.66 ms on
-- average with that wait, 0.27 ms without (pg_stat_statements).
SELECT 1 FROM runs WHERE id = %(run_id)s FOR UPDATE;
SELECT 1 FROM shard_leases WHERE node_id = %(node_id)s ORDER BY shard FOR SHARE;
WITH run AS (
    SELECT id, max_concurrency FROM runs WHERE id = %(run_id)s AND status = 'running'),
free AS (
    SELECT GREATEST(run.max_concurrency
                    - (SELECT count(*) FROM rows WHERE run_id = run.id AND state = 'active'), 0) AS slots
      FROM run)
UPDATE rows r SET state = 'active', epoch = l.epoch
  FROM shard_leases l
 WHERE l.shard = r.shard AND l.node_id = %(node_id)s AND r.id IN (
    SELECT p.id
      FROM rows p
     WHERE p.run_id = %(run_id)s AND p.state = 'pending'
       AND p.shard = ANY(ARRAY(SELECT shard FROM shard_leases WHERE node_id = %(node_id)s))
     ORDER BY p.id
     LIMIT LEAST(%(limit)s, (SELECT coalesce(max(slots), 0) FROM free))
       FOR NO KEY UPDATE OF p SKIP LOCKED)
RETURNING r.id, r.value, r.paused, r.epoch, extract(epoch FROM clock_timestamp() - r.last_tick_at)::float8;

-- name: count_active_rows
-- How many rows of a run are active in the given shards (a monitor's check for rows with no server).
SELECT count(*) FROM rows WHERE run_id = %(run_id)s AND state = 'active' AND shard = ANY(%(shards)s::integer[]);

-- name: active_rows
-- The rows of a run active in the given shards.
SELECT id FROM rows WHERE run_id = %(run_id)s AND state = 'active' AND shard = ANY(%(shards)s::integer[]);

-- name: reset_orphan_rows
-- Fenced: active rows of this node's shards whose server is gone go back to pending, to be claimed
-- and launched again; returns the ids reset.
UPDATE rows r SET state = 'pending'
  FROM (SELECT shard FROM shard_leases WHERE node_id = %(node_id)s ORDER BY shard FOR SHARE) AS lease
 WHERE r.id = ANY(%(ids)s::bigint[]) AND r.shard = lease.shard AND r.state = 'active'
RETURNING r.id;

-- name: row_view
-- A row as GET /rows/<id> shows it, with the number of messages waiting in its inbox and its lease
-- owner. Given a reply %(token)s, an active row whose lease another node holds also rings that node
-- in the same statement (a "row" notification on %(channel)s), asking for its own view of the row;
-- `asked` says whether it did.
WITH target AS (
    SELECT r.id, r.run_id, r.shard, r.value, r.state, r.paused, r.ticks, r.restarts, r.last_tick_at,
           (SELECT count(*) FROM messages m WHERE m.row_id = r.id) AS inbox,
           (SELECT l.node_id FROM shard_leases l WHERE l.shard = r.shard AND l.expires_at > now()) AS owner
      FROM rows r
     WHERE r.id = %(row_id)s)
SELECT target.*, asking.asked,
       CASE WHEN asking.asked
            THEN pg_notify(%(channel)s, json_build_object('k', 'row', 'to', target.owner, 'row', target.id,
                                                          'token', %(token)s::text)::text) END AS ringing
  FROM target
 CROSS JOIN LATERAL (
    SELECT coalesce(%(token)s::text IS NOT NULL AND target.state = 'active' AND target.owner <> %(node_id)s,
                    false) AS asked) AS asking;

-- name: commit_ticks
-- Fenced group commit: one tick of `step` for each listed row (ids[i], ticked by a row server of lease
-- epoch epochs[i]) that is active, unpaused and above 0; returns the ids it did not apply (usually
-- none). Two statements in one round trip (one transaction): the first locks this node's leases of the
-- batch's shards FOR SHARE, in shard order (see the top of this file); the second ticks a row only if
-- its shard's lease is this node's at the server's epoch, read from the locked (so stable) lease rows.
-- (Not from a CTE: the planner, guessing a CTE holds one row, joined every tick with every lease of the
-- same epoch, and a 5,000-row batch took 1.5 s instead of 30 ms.)
-- The batch is fenced before it meets the rows table: each (id, epoch) is matched with its lease by
-- the shard computed from the id (a row's shard is its id modulo %(shard_count)s, as create_run sets
-- it, and the cluster refuses a change of that setting), so every row is then reached by its primary
-- key; the first statement locks the leases of the shards computed the same way, so it locks exactly
-- the leases the second one reads. When the lease was joined to rows by rows.shard, the planner joined
-- the batch with the leases on the epoch alone first (most leases share an epoch): a 300-row batch
-- probed the rows' key 38,400 times and took 28 ms instead of 2 (tick lateness p50 under the bench's
-- load: 54 ms before, 16 to 28 ms after).
SELECT 1 FROM shard_leases
 WHERE node_id = %(node_id)s AND shard IN (SELECT id %% %(shard_count)s FROM unnest(%(ids)s::bigint[]) AS id)
 ORDER BY shard FOR SHARE;
WITH ticked AS (
    UPDATE rows r
       SET value = GREATEST(r.value - %(step)s, 0),
           ticks = r.ticks + 1,
           last_tick_at = clock_timestamp(),  -- not now(), the statement's start: a big batch takes a while
           epoch = t.epoch,
           state = CASE WHEN r.value <= %(step)s THEN 'done' ELSE r.state END
      FROM unnest(%(ids)s::bigint[], %(epochs)s::bigint[]) AS t(id, epoch)
      JOIN shard_leases l ON l.shard = t.id %% %(shard_count)s AND l.epoch = t.epoch AND l.node_id = %(node_id)s
     WHERE r.id = t.id AND r.value > 0 AND NOT r.paused AND r.state = 'active'
    RETURNING r.id)
SELECT coalesce(array_agg(id), '{}') FROM (
    SELECT unnest(%(ids)s::bigint[]) AS id EXCEPT SELECT id FROM ticked) AS refused;

-- name: queued_messages
-- Which of the given messages are still in their inbox (not applied yet).
SELECT id FROM messages WHERE id = ANY(%(ids)s::bigint[]);

-- name: insert_message
-- Commit a message to a row's durable inbox, unless it already holds %(inbox_max)s, and, when another
-- node owns the row, ring that node (%(wake)s on %(channel)s) in the same transaction. Returns the message
-- id (NULL: the inbox is full, or the row's run is being deleted (`deleting`): nothing stored) and the
-- row's current owner (or NULL); no row comes back when the row does not exist. A PL/pgSQL function
-- (migrations/010_insert_message_function.sql, with why the inbox bound holds under READ COMMITTED),
-- so that this is one statement, prepared once per connection.
SELECT message_id, owner, deleting
  FROM greenrow_insert_message(%(row_id)s, %(inbox_max)s, %(type)s, %(body)s, %(reply_to)s, %(node_id)s,
                               %(channel)s, %(wake)s);

-- name: dead_letter_message
-- Fenced: move a message out of its row's inbox into dead_letters with %(error)s (its effect can never be
-- applied, or it crashed the row's server past its restart limit), so the ones behind it can be applied;
-- returns the dead letter's id (no row: the lease is lost, or the message is no longer queued).
WITH moved AS (
    DELETE FROM messages m
     WHERE m.id = %(message_id)s AND greenrow_fence(m.shard, %(node_id)s, %(epoch)s)
    RETURNING m.id, m.row_id, m.shard, m.type, m.body, m.created_at)
INSERT INTO dead_letters (row_id, shard, message_id, type, body, error, sent_at)
SELECT row_id, shard, id, type, body, %(error)s, created_at FROM moved
RETURNING id;

-- name: take_next_message
-- Remove the oldest message of a row's inbox (the caller applies it in the same transaction);
-- `more` says whether later messages were already waiting behind it. Not SKIP LOCKED: when another
-- session holds the oldest message (an earlier owner applying it, whose fenced apply will fail and
-- roll back), this waits for it rather than apply the next one first (messages of a row apply in
-- arrival order); once that session ends, a message it removed is passed over and the next oldest is
-- taken (PostgreSQL locks the rows of ORDER BY ... LIMIT 1 FOR UPDATE one at a time, below the limit).
DELETE FROM messages
 WHERE id = (SELECT id FROM messages WHERE row_id = %(row_id)s ORDER BY id LIMIT 1 FOR UPDATE)
RETURNING id, type, body, reply_to,
          EXISTS (SELECT 1 FROM messages later WHERE later.row_id = %(row_id)s AND later.id > messages.id) AS more;

-- name: apply_message
-- Fenced: a message's effect on its row; set_value/add/paused/stop/revive say what changes.
-- The value stays within 0 .. 2147483647 (the column is a 32-bit integer). The row is locked FOR NO
-- KEY UPDATE (not FOR UPDATE), so casts inserting messages for it (whose foreign key check takes FOR
-- KEY SHARE) do not wait for the apply. The run row is locked FOR SHARE first (run, then lease, then
-- row: the order stop_run and claim_pending_rows lock in too), so a revive's choice of pending (run
-- running) or idle holds until it commits: finish_run and stop_run wait for it, then see its result.
-- Only a message that can put a row back to work (set, incr, resume) takes that lock: the others (ping,
-- get, pause, stop, crash) never make a row pending, so they read the run unlocked and do not queue
-- behind a claim's lock on the run (nor make a claim wait for them) under a load of pings and reads.
WITH may_revive AS (
    SELECT %(set_value)s::integer IS NOT NULL OR %(add)s::bigint <> 0 OR %(revive)s::boolean AS yes),
locked_run AS MATERIALIZED (
    SELECT run.id, run.status = 'running' AS running
      FROM runs run
     WHERE run.id = (SELECT run_id FROM rows WHERE id = %(row_id)s) AND (SELECT yes FROM may_revive)
       FOR SHARE),
run AS (
    SELECT id, running FROM locked_run
    UNION ALL
    SELECT run.id, run.status = 'running'
      FROM runs run
     WHERE run.id = (SELECT run_id FROM rows WHERE id = %(row_id)s) AND NOT (SELECT yes FROM may_revive)),
target AS (
    SELECT r.id, LEAST(GREATEST(COALESCE(%(set_value)s, r.value)::bigint + %(add)s, 0), 2147483647)::integer
               AS new_value,
           run.running AS run_running
      FROM rows r
      JOIN run ON run.id = r.run_id
     WHERE r.id = %(row_id)s AND greenrow_fence(r.shard, %(node_id)s, %(epoch)s)
       FOR NO KEY UPDATE OF r)
UPDATE rows r
   SET value = t.new_value,
       paused = COALESCE(%(paused)s, r.paused),
       state = CASE
           WHEN %(stop)s AND r.state IN ('pending', 'active') THEN 'idle'
           WHEN r.state = 'failed' AND NOT %(revive)s THEN 'failed'
           WHEN t.new_value = 0 THEN 'done'
           WHEN r.state IN ('done', 'failed') OR (r.state = 'idle' AND %(revive)s)
               THEN CASE WHEN t.run_running THEN 'pending' ELSE 'idle' END
           ELSE r.state END
  FROM target t
 WHERE r.id = t.id
RETURNING r.id, r.run_id, r.value, r.state, r.paused, r.ticks, r.restarts, r.last_tick_at;

-- name: count_restart
-- Fenced: count one restart of a row's server and return the state it restarts from (none if it failed).
UPDATE rows r SET restarts = r.restarts + 1
 WHERE r.id = %(row_id)s AND r.state <> 'failed' AND greenrow_fence(r.shard, %(node_id)s, %(epoch)s)
RETURNING r.id, r.value, r.state, r.paused;

-- name: fail_row
-- Fenced: the row's server crashed past its restart limit; it stays failed until a set revives it.
UPDATE rows r SET state = 'failed'
 WHERE r.id = %(row_id)s AND greenrow_fence(r.shard, %(node_id)s, %(epoch)s)
RETURNING r.id;

-- name: rows_with_messages
-- Rows of the given shards whose inbox holds messages (catch-up after a restart or a missed wake-up),
-- at most `limit`, those waiting longest first (a later sweep takes the rest).
SELECT row_id FROM messages WHERE shard = ANY(%(shards)s) GROUP BY row_id ORDER BY min(id) LIMIT %(limit)s;

-- name: heartbeat_node
-- Refresh this node's heartbeat and live row server count (re-registering it if it was swept).
INSERT INTO nodes (id, host, pid, row_servers) VALUES (%(node_id)s, %(host)s, %(pid)s, %(row_servers)s)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), row_servers = EXCLUDED.row_servers;

-- name: sweep_dead_nodes
-- Forget nodes whose heartbeat stopped long ago (killed without a graceful stop).
DELETE FROM nodes WHERE heartbeat_at < now() - make_interval(secs => %(ttl_ms)s * 10 / 1000.0);

-- name: live_nodes
-- Nodes with a recent heartbeat, with the shards they hold.
SELECT n.id, n.host, n.pid, n.started_at, n.row_servers,
       round(extract(epoch FROM now() - n.heartbeat_at)::numeric, 3)::float AS heartbeat_age_s,
       (SELECT count(*) FROM shard_leases l WHERE l.node_id = n.id AND l.expires_at > now()) AS shards
  FROM nodes n
 WHERE n.heartbeat_at > now() - make_interval(secs => %(ttl_ms)s / 1000.0)
 ORDER BY n.started_at, n.id;

-- name: live_node_ids
-- The ids of the nodes with a recent heartbeat, in a fixed order every node agrees on.
SELECT id FROM nodes WHERE heartbeat_at > now() - make_interval(secs => %(ttl_ms)s / 1000.0) ORDER BY id;

-- name: deregister_node
-- Remove this node on a graceful stop.
DELETE FROM nodes WHERE id = %(node_id)s;

-- name: ensure_shards
-- Create the lease rows for every shard (idempotent).
INSERT INTO shard_leases (shard)
SELECT g FROM generate_series(0, %(shards)s - 1) AS g
ON CONFLICT (shard) DO NOTHING;

-- name: claim_free_shards
-- Take up to `limit` shards whose lease is free or expired; returns them with their new epoch. SKIP
-- LOCKED passes over a lease a fenced write holds FOR SHARE (it is taken at a later round).
UPDATE shard_leases SET node_id = %(node_id)s, epoch = epoch + 1,
                        expires_at = now() + make_interval(secs => %(ttl_ms)s / 1000.0)
 WHERE shard IN (
    SELECT shard FROM shard_leases
     WHERE node_id IS NULL OR expires_at <= now()
     ORDER BY shard
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED)
RETURNING shard, epoch;

-- name: reset_stale_active_rows
-- Rows left active by a previous owner of these shards go back to pending (their servers are gone).
UPDATE rows SET state = 'pending' WHERE shard = ANY(%(shards)s) AND state = 'active';

-- name: renew_leases
-- Extend every lease this node still holds; returns the shards held with their epochs. A lease that
-- expired but that no other node took is still this node's (its epoch is unchanged, see the top of
-- this file) and is renewed; one another node took is not. Locks in shard order; clock_timestamp(),
-- not now(): the statement runs in autocommit on the lease keeper's own connection anyway.
UPDATE shard_leases SET expires_at = clock_timestamp() + make_interval(secs => %(ttl_ms)s / 1000.0)
 WHERE shard IN (SELECT shard FROM shard_leases WHERE node_id = %(node_id)s ORDER BY shard FOR UPDATE)
   AND node_id = %(node_id)s
RETURNING shard, epoch;

-- name: release_leases
-- Give up some (or, with shards NULL, all) of this node's leases at once, for a peer to take them now;
-- the active rows of those shards go back to pending (their servers were stopped first).
WITH mine AS (
    UPDATE shard_leases SET node_id = NULL, expires_at = '-infinity'
     WHERE shard IN (SELECT shard FROM shard_leases
                      WHERE node_id = %(node_id)s
                        AND (%(shards)s::integer[] IS NULL OR shard = ANY(%(shards)s::integer[]))
                      ORDER BY shard FOR UPDATE)
       AND node_id = %(node_id)s
    RETURNING shard)
UPDATE rows SET state = 'pending'
  FROM mine
 WHERE rows.shard = mine.shard AND rows.state = 'active';

-- name: cluster_balance
-- Readiness: how many nodes are live, and whether they hold every shard between them, each within one
-- of the others (the shares the lease keepers converge to).
WITH live AS (
    SELECT n.id, (SELECT count(*) FROM shard_leases l WHERE l.node_id = n.id AND l.expires_at > now()) AS held
      FROM nodes n
     WHERE n.heartbeat_at > now() - make_interval(secs => %(ttl_ms)s / 1000.0))
SELECT count(*) AS live, coalesce(sum(held) = %(shards)s AND max(held) - min(held) <= 1, false) AS balanced
  FROM live;

-- name: database_now
-- Readiness probe: the database answers.
SELECT now();

-- name: publish_node_stats
-- Store this node's telemetry on its row (GET /stats reads every live node's); returns how many
-- messages wait in the inboxes of the shards it holds (its inbox depth gauge). No row comes back
-- when the node's row was swept (its next heartbeat brings it back).
UPDATE nodes SET stats = %(stats)s, stats_at = now()
 WHERE id = %(node_id)s
RETURNING (SELECT count(*) FROM messages WHERE shard = ANY(%(shards)s::integer[]));

-- name: node_stats
-- GET /stats: every live node with its shard count and the telemetry it stored last.
SELECT n.id, n.host, n.pid, n.started_at, n.stats,
       round(extract(epoch FROM now() - n.heartbeat_at)::numeric, 3)::float AS heartbeat_age_s,
       round(extract(epoch FROM now() - n.stats_at)::numeric, 3)::float AS stats_age_s
  FROM nodes n
 WHERE n.heartbeat_at > now() - make_interval(secs => %(ttl_ms)s / 1000.0)
 ORDER BY n.started_at, n.id;

-- name: find_idempotency_key
-- A live (younger than the TTL) idempotency key of this owner: the first request's fingerprint and what it answered.
SELECT fingerprint, status, response, message_id
  FROM idempotency_keys
 WHERE owner = %(owner)s AND key = %(key)s AND created_at > now() - make_interval(secs => %(ttl_s)s);

-- name: store_idempotency_key
-- Claim a key in the transaction of its request's effect (a run created, a message queued): a row comes
-- back when this transaction holds the key, none when a live key of that name exists (the caller rolls
-- its effect back and replays the stored answer). An expired key is taken over.
-- Safe under READ COMMITTED: the primary key serialises two requests with one key. The second one's
-- INSERT waits for the first's transaction; if the first commits, the conflict is seen against the
-- committed row (ON CONFLICT re-checks the latest version), the key is live, nothing is returned and the
-- second rolls its effect back; if the first rolls back, the second inserts. At most one effect commits
-- per live key, whatever the interleaving.
INSERT INTO idempotency_keys (owner, key, fingerprint, status, response, message_id)
VALUES (%(owner)s, %(key)s, %(fingerprint)s, %(status)s, %(response)s, %(message_id)s)
ON CONFLICT (owner, key) DO UPDATE
   SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, response = EXCLUDED.response,
       message_id = EXCLUDED.message_id, created_at = now()
 WHERE idempotency_keys.created_at <= now() - make_interval(secs => %(ttl_s)s)
RETURNING key;

-- name: store_call_reply
-- A keyed call's reply, stored by the row server in the transaction that applies its message (or sets it
-- aside), so a retry of the call gets exactly that reply even if the first caller is gone.
UPDATE idempotency_keys SET status = 200, response = %(response)s
 WHERE message_id = %(message_id)s AND status IS NULL;

-- name: redirect_call
-- A retried call whose message is still queued: its reply goes to the retry's caller from now on. When
-- the message is being applied, this waits for that transaction and then finds the message gone (its
-- reply is stored with the key by then).
UPDATE messages SET reply_to = %(reply_to)s WHERE id = %(message_id)s RETURNING id;

-- name: purge_idempotency_keys
-- Forget up to %(batch)s keys older than the TTL (any node may run it; two at once delete disjoint rows or wait).
DELETE FROM idempotency_keys
 WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys
                         WHERE created_at <= now() - make_interval(secs => %(ttl_s)s)
                         LIMIT %(batch)s));

-- Retention (greenlets/run_deleter.py). A finished run marked `deleting` is removed by whichever node's
-- run deleter gets to it: its messages, then its rows with whatever messages reach them meanwhile, in
-- short transactions of at most %(limit)s rows each, then its counter rows and the run itself. Every
-- batch takes only what no one else holds (SKIP LOCKED): it never waits for a row server applying a
-- message, for a cast being committed or for another node's deleter, and none of them waits long for
-- it. Two deleters on one run share its batches; a deleter that dies mid-run leaves the mark and the
-- rest for the next round.

-- name: mark_run_deleting
-- Mark a done or stopped run for deletion (no change to a running run or to one already marked).
-- READ COMMITTED: a run finishing meanwhile was running in this statement's snapshot: not marked (409).
UPDATE runs SET status = 'deleting' WHERE id = %(run_id)s AND status IN ('done', 'stopped');

-- name: mark_expired_runs
-- Retention: mark for deletion the runs finished more than %(retain_s)s seconds ago; returns their ids.
UPDATE runs SET status = 'deleting'
 WHERE status IN ('done', 'stopped') AND finished_at < now() - make_interval(secs => %(retain_s)s)
RETURNING id;

-- name: runs_being_deleted
-- The runs marked for deletion, oldest first, with their row id range.
SELECT id, first_row_id, last_row_id FROM runs WHERE status = 'deleting' ORDER BY id;

-- name: delete_run_messages
-- Delete up to %(limit)s messages of a run's rows (their run is marked deleting: none is added), passing
-- over any a row server is applying; returns how many were deleted.
WITH gone AS (
    DELETE FROM messages
     WHERE id IN (SELECT id FROM messages
                   WHERE row_id BETWEEN %(first_row_id)s AND %(last_row_id)s
                   LIMIT %(limit)s
                     FOR UPDATE SKIP LOCKED)
    RETURNING 1)
SELECT count(*) FROM gone;

-- name: delete_run_rows
-- Delete up to %(limit)s rows of a run, lowest ids first, with the messages that reached them since
-- delete_run_messages and their dead letters; returns how many rows were deleted. A row someone holds (a
-- row server applying a message, a cast's key check) is passed over, and so is a row with a message or a
-- dead letter someone holds (a replay): its
-- delete would wait for that message (the foreign key check at the end of the statement) while the
-- holder waits for the row, a deadlock. Passed-over rows are taken by a later batch. (A message
-- committed between this statement's snapshot and its lock on the row fails the foreign key check:
-- the batch rolls back and is tried again.)
WITH candidate AS (
    SELECT id FROM rows
     WHERE id BETWEEN %(first_row_id)s AND %(last_row_id)s
     ORDER BY id
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED),
inbox AS (
    SELECT id, row_id FROM messages WHERE row_id IN (SELECT id FROM candidate) FOR UPDATE SKIP LOCKED),
letters AS (
    SELECT id, row_id FROM dead_letters WHERE row_id IN (SELECT id FROM candidate) FOR UPDATE SKIP LOCKED),
doomed AS (
    SELECT c.id FROM candidate c
     WHERE NOT EXISTS (SELECT 1 FROM messages m
                        WHERE m.row_id = c.id AND m.id NOT IN (SELECT i.id FROM inbox i WHERE i.row_id = c.id))
       AND NOT EXISTS (SELECT 1 FROM dead_letters d
                        WHERE d.row_id = c.id AND d.id NOT IN (SELECT l.id FROM letters l WHERE l.row_id = c.id))),
gone_messages AS (
    DELETE FROM messages WHERE id IN (SELECT id FROM inbox WHERE row_id IN (SELECT id FROM doomed))),
gone_letters AS (
    DELETE FROM dead_letters WHERE id IN (SELECT id FROM letters WHERE row_id IN (SELECT id FROM doomed))),
gone AS (
    DELETE FROM rows WHERE id IN (SELECT id FROM doomed) RETURNING 1)
SELECT count(*) FROM gone;

-- name: delete_run_record
-- Once none of its rows is left, delete a deleting run's counter rows and the run; returns its id (no
-- row: some of its rows are still there, held by someone when the last batch passed them over).
WITH empty AS (
    SELECT NOT EXISTS (SELECT 1 FROM rows WHERE run_id = %(run_id)s) AS yes),
counts AS (
    DELETE FROM run_counts WHERE run_id = %(run_id)s AND (SELECT yes FROM empty))
DELETE FROM runs
 WHERE id = %(run_id)s AND status = 'deleting' AND (SELECT yes FROM empty)
RETURNING id;

-- Dead letters (migrations/008_dead_letters.sql; greenlets/dead_letters.py).

-- name: row_dead_letters
-- A row's dead letters, oldest first, at most %(limit)s; `row_exists` is false when the row does not exist
-- (then the one row returned has no dead letter).
SELECT EXISTS (SELECT 1 FROM rows WHERE id = %(row_id)s) AS row_exists, d.*
  FROM (SELECT 1) AS one
  LEFT JOIN LATERAL (SELECT * FROM dead_letters WHERE row_id = %(row_id)s ORDER BY id LIMIT %(limit)s) AS d ON true;

-- name: dead_letter
-- One dead letter.
SELECT * FROM dead_letters WHERE id = %(dead_letter_id)s;

-- name: lock_row_inbox
-- The row's inbox lock (see insert_message), for the rest of the transaction.
SELECT pg_advisory_xact_lock(-%(row_id)s::bigint);

-- name: replay_dead_letter
-- After lock_row_inbox, in its transaction: put a dead letter back at the end of its row's inbox as a new
-- message and remove it from dead_letters, unless the inbox holds %(inbox_max)s messages or the row's run is
-- being deleted; rings the row's owner when it is another node. Returns the new message's id (NULL: nothing
-- done, `deleting` says why if it is not a full inbox); no row when the dead letter does not exist (any
-- more: a replay or a delete took it first; its row lock makes a second one wait, then find it gone).
WITH letter AS (
    SELECT id, row_id, shard, type, body FROM dead_letters WHERE id = %(dead_letter_id)s FOR UPDATE),
state AS (
    SELECT (SELECT run.status = 'deleting' FROM rows r JOIN runs run ON run.id = r.run_id
             WHERE r.id = %(row_id)s) AS deleting,
           (SELECT count(*) < %(inbox_max)s
              FROM (SELECT 1 FROM messages WHERE row_id = %(row_id)s LIMIT %(inbox_max)s) AS queued) AS free,
           (SELECT l.node_id FROM shard_leases l
             WHERE l.shard = (SELECT shard FROM letter) AND l.expires_at > now()) AS owner),
inserted AS (
    INSERT INTO messages (row_id, shard, type, body)
    SELECT letter.row_id, letter.shard, letter.type, letter.body FROM letter, state
     WHERE state.free AND NOT state.deleting
    RETURNING id),
removed AS (
    DELETE FROM dead_letters WHERE id IN (SELECT id FROM letter) AND EXISTS (SELECT 1 FROM inserted))
SELECT inserted.id AS message_id, state.deleting, state.owner,
       CASE WHEN inserted.id IS NOT NULL AND state.owner <> %(node_id)s THEN pg_notify(%(channel)s, %(wake)s) END
  FROM letter CROSS JOIN state LEFT JOIN inserted ON true;

-- name: delete_dead_letter
-- Drop a dead letter; returns it (no row: there is no such dead letter).
DELETE FROM dead_letters WHERE id = %(dead_letter_id)s RETURNING *;
