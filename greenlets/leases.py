"""Shard leases: which shards (and so which rows) this node owns.

Rows map to ``shards`` shards (row id modulo the shard count). Each shard is owned by at most one
live node through a lease row in PostgreSQL, claimed with ``FOR UPDATE SKIP LOCKED`` and renewed
every third of ``lease_ttl_ms``. Every row write checks the lease in the same statement (fencing),
so a node that lost a lease cannot commit for that shard's rows.
"""
import logging

import gevent

from greenlets.db.queries import QUERIES

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

    def renew_and_claim(self):
        """One round: renew what we hold, notice what we lost, claim free or expired shards."""
        pool = self._node.pool
        with pool.transaction() as cur:
            cur.execute(QUERIES["heartbeat_node"], self._node.heartbeat_params())
            cur.execute(QUERIES["sweep_dead_nodes"], {"ttl_ms": self._ttl_ms})
            cur.execute(QUERIES["renew_leases"], {"node_id": self._node.id, "ttl_ms": self._ttl_ms})
            still_held = frozenset(shard for (shard,) in cur.fetchall())
        lost = self.held - still_held
        self.held = still_held
        if lost:
            log.warning("greenrow.lease.lost node=%s shards=%d", self._node.id, len(lost))
            self._node.shards_lost(lost)
        with pool.transaction() as cur:
            cur.execute(QUERIES["claim_free_shards"],
                        {"node_id": self._node.id, "ttl_ms": self._ttl_ms, "limit": self.shards})
            claimed = frozenset(shard for shard, _ in cur.fetchall())
            if claimed:
                cur.execute(QUERIES["reset_stale_active_rows"], {"shards": sorted(claimed)})
        if claimed:
            self.held = self.held | claimed
            log.info("greenrow.lease.claimed node=%s shards=%d held=%d", self._node.id, len(claimed), len(self.held))
            self._node.shards_gained(claimed)

    def release_all(self):
        self._node.pool.fetch_one("release_leases", {"node_id": self._node.id})
        self.held = frozenset()
