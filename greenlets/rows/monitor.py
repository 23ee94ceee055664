"""One monitor per running run on each node: launches the run's row servers, at most
``max_concurrency`` at a time, as slots free up and every ``scan_ms``; ends when the run is done.

A monitor works only the rows of the shards its node holds. When nothing of the run is pending or
active anywhere it marks the run done and leaves, and nothing of the run stays in memory.
"""
import logging
import time

import gevent
from gevent.event import Event

from greenlets import event_wait
from greenlets.db.pool import UNAVAILABLE
from greenlets.rows.server import RunInfo, stop_all

log = logging.getLogger(__name__)

# After a slot frees, let the node's ticks that are queued or committing go first (at most this
# long): rows end in bursts, at their last tick, while the other rows of the burst still tick; a
# claim and a launch in the middle of the burst would make those ticks late. Slots that free
# meanwhile join the same claim.
REFILL_AFTER_TICKS_MAX_S = 0.1
# After a claim that launched rows, look again this soon rather than a whole scan_ms later: the claim
# may have skipped rows locked by a message being applied, or left cluster-wide slots another node
# does not need (see _launch_free_slots).
RECHECK_AFTER_LAUNCH_S = 0.1
# Start row servers in slices, letting the hub serve requests in between.
LAUNCH_SLICE = 500


class Monitor:
    def __init__(self, node, run):
        self._node = node
        self.run_info = RunInfo(run["id"], run["step"], run["tick_ms"])
        self.run_id = run["id"]
        self._scan_s = run["scan_ms"] / 1000.0
        self._max_concurrency = run["max_concurrency"]
        self.active = set()
        self._slot_freed = Event()
        self._stopped = False
        self._orphans_checked_at = time.monotonic()

    def __str__(self):
        return f"<Monitor run={self.run_id} active={len(self.active)}>"

    def release(self, row_id):
        """A launched row server of this run left for good (done, stopped, failed)."""
        self.active.discard(row_id)
        self._slot_freed.set()

    def wake(self):
        """Look for rows to launch now (e.g. this node just gained shards)."""
        self._slot_freed.set()

    def stop(self):
        """The run was stopped: end its row servers; values stay as they are."""
        self._stopped = True
        self._slot_freed.set()
        # (not filter(None, ...): a greenlet that never started is falsy, and most row servers never start)
        servers = [server for server in map(self._node.registry.get, list(self.active)) if server is not None]
        stop_all(servers, timeout_s=5)

    def run(self):
        self._work()
        self._node.forget_monitor(self)  # not on a crash: the service supervisor restarts this monitor

    def _work(self):
        log.info("greenrow.monitor.start run=%s node=%s", self.run_id, self._node.id)
        while not self._stopped:
            try:
                launched = self._launch_free_slots()
                if not launched:
                    self._relaunch_orphans()
                if not self.active and not launched and self._finish_if_complete():
                    return
                self._node.database.succeeded()
            except UNAVAILABLE as exc:  # not a crash: look again at the next scan
                self._node.database.failed(f"monitor of run {self.run_id}", exc)
                launched = 0
            woke = event_wait.wait(self._slot_freed, RECHECK_AFTER_LAUNCH_S if launched else self._scan_s)
            self._slot_freed.clear()
            if woke and not self._stopped:
                self._node.tick_writer.wait_until_idle(REFILL_AFTER_TICKS_MAX_S)
        log.info("greenrow.monitor.stop run=%s node=%s", self.run_id, self._node.id)

    def _launch_free_slots(self):
        """Claim and start pending rows; returns how many.

        Up to this node's share of max_concurrency (its shards' quotas) first; once that is full, any
        slot the other nodes leave unused (they may have fewer pending rows): the claim itself never
        lets the run's active rows, all nodes together, exceed max_concurrency.
        """
        share_free = self._node.concurrency_share(self._max_concurrency) - len(self.active)
        limit = share_free if share_free > 0 else self._max_concurrency
        rows = self._node.pool.fetch_all(
            "claim_pending_rows", {"run_id": self.run_id, "node_id": self._node.id, "limit": limit}, priority=True)
        registry = self._node.registry
        for count, (row_id, value, paused, epoch, since_tick_s) in enumerate(rows, 1):
            self.active.add(row_id)
            registry.start(row_id, self.run_info, True, value, paused, epoch, since_tick_s=since_tick_s)
            if count % LAUNCH_SLICE == 0:
                gevent.sleep(0)
        if rows:
            log.debug("run %s: launched %d row servers (%d active)", self.run_id, len(rows), len(self.active))
        return len(rows)

    def _relaunch_orphans(self):
        """Rows of this run active in the shards this node holds, with no server here and none
        restarting (a server lost to a bug or a fault), go back to pending: the next claim launches
        them again. Without this a single lost server would keep its run from ever finishing. One
        count per scan; the ids are read only when the count says some are missing."""
        node = self._node
        held = node.leases.held
        if not held or time.monotonic() - self._orphans_checked_at < self._scan_s:
            return
        self._orphans_checked_at = time.monotonic()
        shards = sorted(held)
        count = node.pool.fetch_one("count_active_rows", {"run_id": self.run_id, "shards": shards}, priority=True)[0]
        if count <= len(self.active):
            return
        orphans = [row_id for (row_id,) in node.pool.fetch_all(
                       "active_rows", {"run_id": self.run_id, "shards": shards}, priority=True)
                   if row_id not in self.active and node.registry.get(row_id) is None
                   and not node.supervisor.is_restarting(row_id)]
        if orphans:
            reset = node.pool.fetch_all("reset_orphan_rows", {"ids": orphans, "node_id": node.id}, priority=True)
            log.warning("greenrow.monitor.orphans run=%s rows=%d reset=%d", self.run_id, len(orphans), len(reset))
            node.telemetry.bump("orphan_rows_relaunched", len(reset))

    def _finish_if_complete(self):
        if self._node.pool.fetch_one("finish_run", {"run_id": self.run_id}, priority=True):
            self._node.telemetry.bump("runs_finished")
            log.info("greenrow.run.done run=%s", self.run_id)
            return True
        status = self._node.pool.fetch_one("run_params", {"run_id": self.run_id}, dicts=True, priority=True)
        return status is None or status["status"] != "running"
