"""Shard leases: which shards (and so which rows) this node owns.

Rows map to ``shards`` shards (row id modulo the shard count). Each shard is owned by at most one
live node through a lease row in PostgreSQL, claimed with ``FOR UPDATE SKIP LOCKED`` and renewed
every third of ``lease_ttl_ms``. Every row write checks the lease in the same statement (fencing),
so a node that lost a lease cannot commit for that shard's rows.

Balance: every live node (recent heartbeat) computes the same target for each node from the sorted
list of live node ids: ``shards // live``, plus one for the first ``shards % live`` nodes. A node
above its target hands its highest shards back (servers stopped, rows back to pending, lease freed
at once); a node below claims free or expired shards. Shares converge to within one of even.
"""
import logging

import gevent

from greenlets.db.queries import run_query

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, node, shards, ttl_ms):
        self._node = node
        self.shards = shards
        self._ttl_ms = ttl_ms
        self.held = frozenset()

    def __str__(self):
        return f"<LeaseKeeper held={len(self.held)}/{self.shards}>"

    def shard_of(self, row_id):
        return row_id % self.shards

    def run(self):
        while True:
            self.renew_and_claim()
            gevent.sleep(self._ttl_ms / 3000.0)

    def target(self, live_node_ids):
        """How many shards this node should hold, given every live node's id."""
        base, extra = divmod(self.shards, len(live_node_ids))
        return base + (1 if live_node_ids.index(self._node.id) < extra else 0)

    def renew_and_claim(self):
        """One round: renew what we hold, notice what we lost, hand back or claim to reach our target."""
        pool = self._node.pool
        with pool.transaction() as cur:
            run_query(cur, "heartbeat_node", self._node.heartbeat_params())
            run_query(cur, "sweep_dead_nodes", {"ttl_ms": self._ttl_ms})
            run_query(cur, "renew_leases", {"node_id": self._node.id, "ttl_ms": self._ttl_ms})
            still_held = frozenset(shard for (shard,) in cur.fetchall())
            run_query(cur, "live_node_ids", {"ttl_ms": self._ttl_ms})
            live = [node_id for (node_id,) in cur.fetchall()]
        lost = self.held - still_held
        self.held = still_held
        if lost:
            log.warning("greenrow.lease.lost node=%s shards=%d", self._node.id, len(lost))
            self._node.shards_lost(lost)
        target = self.target(live)
        if len(self.held) > target:
            self.hand_back(sorted(self.held)[target:])
        elif len(self.held) < target:
            self._claim(target - len(self.held))

    def _claim(self, count):
        with self._node.pool.transaction() as cur:
            run_query(cur, "claim_free_shards",
                        {"node_id": self._node.id, "ttl_ms": self._ttl_ms, "limit": count})
            claimed = frozenset(shard for shard, _ in cur.fetchall())
            if claimed:
                run_query(cur, "reset_stale_active_rows", {"shards": sorted(claimed)})
        if claimed:
            self.held = self.held | claimed
            log.info("greenrow.lease.claimed node=%s shards=%d held=%d", self._node.id, len(claimed), len(self.held))
            self._node.shards_gained(claimed)

    def hand_back(self, shards):
        """Give shards to peers now: stop their row servers, put their rows back to pending, free the leases."""
        shards = frozenset(shards)
        self.held = self.held - shards
        self._node.shards_lost(shards)
        self._node.pool.fetch_one("release_leases", {"node_id": self._node.id, "shards": sorted(shards)})
        log.info("greenrow.lease.released node=%s shards=%d held=%d", self._node.id, len(shards), len(self.held))

    def release_all(self):
        self.held = frozenset()
        self._node.pool.fetch_one("release_leases", {"node_id": self._node.id, "shards": None})
