"""Retention: the run deleter, one of each node's services, removes the runs marked ``deleting``.

``DELETE /runs/<id>`` (or, with GREENROW_RETAIN_FINISHED_RUNS_S, this deleter itself) marks a finished
run ``deleting`` in the database: the mark is the durable request. Every node's deleter looks for marked
runs every few seconds (at once on the node that took the request) and removes a run's messages, then
its rows, in transactions of at most DELETE_BATCH_ROWS rows that take only what nobody else holds
(the queries' comments in greenlets/db/queries.sql say why), then its counter rows and the run. After
each batch it pauses as long as the batch took, so a deletion uses at most about half of one database
connection's time and the other runs' tick batches keep their pace. Two nodes deleting one run share
its batches; a node that dies mid-run leaves the mark, and the next round (any node's) carries on.
"""
import logging
import time

import gevent
import psycopg2
from gevent.event import Event

from greenlets import event_wait
from greenlets.db.pool import UNAVAILABLE
from greenlets.db.queries import run_query
from greenlets.errors import RunNotFinished

log = logging.getLogger(__name__)

DELETE_BATCH_ROWS = 5000
SCAN_S = 5.0          # how often a node looks for runs marked by others (or past their retention)
HELD_RETRY_S = 0.2    # a run whose last rows someone held is tried again this soon


class RunDeleter:
    def __init__(self, node, retain_s):
        self._node = node
        self._retain_s = retain_s
        self._wake = Event()

    def __str__(self):
        return f"<RunDeleter retain_s={self._retain_s}>"

    def mark(self, cur, run_id):
        """Mark a finished run for deletion, in the caller's transaction; returns its run_with_counts record
        (status ``deleting``), None when there is no such run. RunNotFinished when it is running."""
        run_query(cur, "mark_run_deleting", {"run_id": run_id})
        run_query(cur, "runs_with_counts", {"run_id": run_id, "limit": 1})
        record = cur.fetchone()
        if record is not None and record["status"] == "running":
            raise RunNotFinished(f"run {run_id} is running: stop it first (POST /runs/{run_id}/stop), "
                                 "or wait until it is done")
        return record

    def wake(self):
        """A run was marked here: start on it now rather than at the next scan."""
        self._wake.set()

    def run(self):
        while True:
            self._wake.clear()
            try:
                left = self._round()
            except UNAVAILABLE as exc:
                self._node.database.failed("run deletion", exc)
                left = False
            except psycopg2.IntegrityError as exc:  # a cast committed to a row as its batch took it: again
                log.debug("greenrow.run.delete_retry %s", str(exc).strip())
                left = True
            event_wait.wait(self._wake, HELD_RETRY_S if left else SCAN_S)

    def _round(self):
        """Mark the runs past their retention, then delete every marked run; True if one is left."""
        pool = self._node.pool
        if self._retain_s is not None:
            for (run_id,) in pool.fetch_all("mark_expired_runs", {"retain_s": self._retain_s}):
                log.info("greenrow.run.expired run=%s retain_s=%s", run_id, self._retain_s)
        left = False
        for run in pool.fetch_all("runs_being_deleted", dicts=True):
            left = not self._delete(run) or left
        return left

    def _delete(self, run):
        """Delete one marked run, batch after batch; True once its record is gone."""
        params = dict(run, run_id=run["id"], limit=DELETE_BATCH_ROWS)
        started = time.monotonic()
        messages = self._in_batches("delete_run_messages", "run_messages_deleted", params)
        rows = self._in_batches("delete_run_rows", "run_rows_deleted", params)
        if self._node.pool.fetch_one("delete_run_record", params) is None:
            return False  # rows someone held (or another node's deleter has them): the next round
        self._node.telemetry.bump("runs_deleted")
        log.info("greenrow.run.deleted run=%s rows=%d messages=%d seconds=%.2f (by this node)",
                 run["id"], rows, messages, time.monotonic() - started)
        return True

    def _in_batches(self, query, counter, params):
        total = 0
        while True:
            began = time.monotonic()
            (count,) = self._node.pool.fetch_one(query, params)
            if not count:
                return total
            total += count
            self._node.telemetry.bump(counter, count)
            gevent.sleep(time.monotonic() - began)  # as long again: leaves the database to the ticks
