"""Shard leases: which shards (and so which rows) this node owns.

Rows map to ``shards`` shards (row id modulo the shard count). Each shard is owned by at most one
live node through a lease row in PostgreSQL, claimed with ``FOR UPDATE SKIP LOCKED`` and renewed
every third of ``lease_ttl_ms``. Each claim gives the lease a new epoch; every row write names the
epoch its row server was started under and checks it against the lease, locked, in the same
statement (fencing, see queries.sql), so a node that lost a lease cannot commit for that shard's rows.
The keeper talks to PostgreSQL on a connection of its own: slow HTTP requests holding the pool
cannot make a node miss its renewals.

Balance: every live node (recent heartbeat) computes the same target for each node from the sorted
list of live node ids: ``shards // live``, plus one for the first ``shards % live`` nodes. A node
above its target hands its highest shards back (servers stopped, rows back to pending, lease freed
at once); a node below claims free or expired shards. Shares converge to within one of even.
"""
import logging

import gevent

from greenlets.db.pool import UNAVAILABLE
from greenlets.db.queries import run_query

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_S = 0.5


class LeaseKeeper:
    def __init__(self, node, shards, ttl_ms):
        self._node = node
        self.shards = shards
        self._ttl_ms = ttl_ms
        self.held = {}  # shard -> the epoch of our lease on it
        self.balanced = False  # the last round found this node at its target share
        # After a round that could not reach the database (an outage every node went through), the
        # next one renews and heartbeats but claims nothing: the peers' heartbeats are stale too, and
        # a node claiming its "target" among the few it sees live would take every expired lease.
        self._claims_wait_a_round = False
        self._conn = node.pool.dedicated()

    def __str__(self):
        return f"<LeaseKeeper held={len(self.held)}/{self.shards}>"

    def shard_of(self, row_id):
        return row_id % self.shards

    def epoch_of(self, row_id):
        """The epoch of our lease on the row's shard, or None when we do not hold it."""
        return self.held.get(row_id % self.shards)

    def run(self):
        try:
            while True:
                try:
                    self.renew_and_claim()
                except UNAVAILABLE as exc:
                    self._node.database.failed("lease round", exc)
                    self._claims_wait_a_round = True
                    self._conn.close()
                    gevent.sleep(RETRY_AFTER_FAILURE_S)
                    continue
                gevent.sleep(self._ttl_ms / 3000.0)
        finally:
            self._conn.close()

    def target(self, live_node_ids):
        """How many shards this node should hold, given every live node's id."""
        if self._node.id not in live_node_ids:
            return 0  # swept while away (e.g. paused): the next round's heartbeat brings it back
        base, extra = divmod(self.shards, len(live_node_ids))
        return base + (1 if live_node_ids.index(self._node.id) < extra else 0)

    def renew_and_claim(self):
        """One round: renew what we hold, notice what we lost, hand back or claim to reach our target.

        Autocommit statements, each with its own clock: a renewal never extends a lease with a time
        read before a wait (the bug of a round run as one transaction)."""
        node = self._node
        with self._conn.statement() as cur:
            run_query(cur, "heartbeat_node", node.heartbeat_params())
            run_query(cur, "sweep_dead_nodes", {"ttl_ms": self._ttl_ms})
            run_query(cur, "renew_leases", {"node_id": node.id, "ttl_ms": self._ttl_ms})
            renewed = dict(cur.fetchall())
            run_query(cur, "live_node_ids", {"ttl_ms": self._ttl_ms})
            live = [node_id for (node_id,) in cur.fetchall()]
        node.database.succeeded()
        previous, self.held = self.held, renewed
        lost = {shard for shard, epoch in previous.items() if renewed.get(shard) != epoch}
        # (a claim whose answer was lost to a broken connection still made the lease ours: it shows up here)
        gained = {shard for shard, epoch in renewed.items() if previous.get(shard) != epoch}
        if lost:
            log.warning("greenrow.lease.lost node=%s shards=%d", node.id, len(lost))
            gevent.spawn(node.shards_lost, frozenset(lost))  # stopping servers can take a while: not in the round
        target = self.target(live)
        if len(self.held) > target:
            self.hand_back(sorted(self.held)[target:])
        elif len(self.held) < target and not self._claims_wait_a_round:
            self._claim(target - len(self.held))
        self._claims_wait_a_round = False
        self.balanced = len(self.held) == target
        if gained:
            node.shards_gained(gained)

    def _claim(self, count):
        with self._conn.transaction() as cur:
            run_query(cur, "claim_free_shards",
                      {"node_id": self._node.id, "ttl_ms": self._ttl_ms, "limit": count})
            claimed = dict(cur.fetchall())
            if claimed:
                run_query(cur, "reset_stale_active_rows", {"shards": sorted(claimed)})
        if claimed:
            self.held = {**self.held, **claimed}
            log.info("greenrow.lease.claimed node=%s shards=%d held=%d", self._node.id, len(claimed), len(self.held))
            self._node.shards_gained(claimed)

    def hand_back(self, shards):
        """Give shards to peers now: free the leases and put their active rows back to pending in one
        statement, then stop their row servers (a tick or message they commit meanwhile is fenced)."""
        shards = sorted(shards)
        with self._conn.statement() as cur:
            run_query(cur, "release_leases", {"node_id": self._node.id, "shards": shards})
        self.held = {shard: epoch for shard, epoch in self.held.items() if shard not in shards}
        log.info("greenrow.lease.released node=%s shards=%d held=%d", self._node.id, len(shards), len(self.held))
        gevent.spawn(self._node.shards_lost, frozenset(shards))

    def release_all(self):
        self.held = {}
        with self._conn.statement() as cur:
            run_query(cur, "release_leases", {"node_id": self._node.id, "shards": None})
        self._conn.close()
