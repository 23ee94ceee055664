-- Fencing by lease epoch. Every write a node makes for a row (a tick, a message's effect, a restart,
-- a failure) names the lease epoch the writer holds for the row's shard, and takes effect only if
-- that lease is still this node's at that epoch, with the lease row locked FOR SHARE until the
-- write commits: a node taking the shard over (claim_free_shards: UPDATE ... SKIP LOCKED) cannot
-- change the lease until the write is committed, and a write that waited for the takeover sees the
-- new lease and does nothing. See queries.sql for the argument per statement.

-- The lease epoch under which the row was last claimed or ticked (audit: who ticked, under what term).
ALTER TABLE rows ADD COLUMN epoch bigint NOT NULL DEFAULT 0;

-- True when node p_node holds shard p_shard at epoch p_epoch; the lease row stays locked FOR SHARE
-- until the caller's transaction ends. VOLATILE: evaluated with a fresh snapshot at each call, and a
-- lease being changed by a committing takeover is waited for, then read as committed.
CREATE FUNCTION greenrow_fence(p_shard integer, p_node text, p_epoch bigint) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    SELECT EXISTS (SELECT 1 FROM shard_leases
                    WHERE shard = p_shard AND node_id = p_node AND epoch = p_epoch
                      FOR SHARE)
$$;
