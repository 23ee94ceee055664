"""Group commit of ticks: many row servers' ticks in one fenced UPDATE every few milliseconds.

A row server's timer hands its tick to ``submit``; the writer greenlets gather the ticks queued
meanwhile, run ``commit_ticks`` once per batch (once per distinct step) on a connection of their
own, and tell each server whether its tick was applied (it was not when the row was stopped, paused
or its shard lease is no longer ours; a server knows its new value: value - step, at least 0, so the
statement only returns the ids it did not apply, usually none). A server schedules its next tick only then,
so every tick is still its own durable, fenced step. Writers hold their own connections, outside the
request pool, so a long batch never makes an HTTP request wait for a connection.

Each step's statement is its own transaction, answered on its own: a statement that fails crashes the
servers of its step only (their supervisor restarts them), and the other steps commit as usual. When
the database is unavailable (the connection broke), the steps not yet committed are told so (not a
crash: those servers schedule their next tick), and the outage is reported once per batch
(DatabaseHealth), not once per server.
"""
import logging
import time

import gevent
import psycopg2.errors
from gevent.event import Event

from greenlets import event_wait
from greenlets.db.pool import UNAVAILABLE
from greenlets.db.queries import run_query

log = logging.getLogger(__name__)

RETRIES_ON_DEADLOCK = 3
YIELD_EVERY = 500


class TickWriter:
    def __init__(self, pool, node_id, telemetry, database, shards, batch_ms, batch_max):
        self._pool = pool
        self._node_id = node_id
        self._telemetry = telemetry
        self._database = database
        self._shards = shards
        self._batch_s = batch_ms / 1000.0
        self._batch_max = batch_max
        self._queued = []
        self._has_work = Event()
        self._in_flight = 0  # batches taken and not yet answered
        self._idle = Event()  # set while no tick is queued or in flight
        self._idle.set()

    def __str__(self):
        return f"<TickWriter queued={len(self._queued)}>"

    def submit(self, server):
        """Queue a row server's tick; the writer calls server.tick_committed (or tick_failed) later."""
        self._queued.append(server)
        if len(self._queued) == 1:
            self._has_work.set()
            self._idle.clear()

    def wait_until_idle(self, timeout_s):
        """Wait, at most ``timeout_s``, until no tick is queued or being committed: work that can wait
        a moment (launching row servers) then runs after the ticks due now, not in their way."""
        event_wait.wait(self._idle, timeout_s)

    def run(self):
        """One writer loop with its own connection; a node runs a few so one batch's fsync overlaps the next."""
        conn = None
        try:
            while True:
                conn = self._write_next(conn)  # no batch stays referenced while waiting for the next one
        finally:
            if conn is not None:
                conn.close()

    def _write_next(self, conn):
        batch = self._next_batch()
        try:
            return self._write(conn, batch)
        finally:
            self._in_flight -= 1
            if not self._in_flight and not self._queued:
                self._idle.set()

    def _write(self, conn, batch):
        """Commit one batch, a statement per step, and answer its servers; returns the connection to
        use next (None if broken)."""
        by_step = {}
        for server in batch:
            by_step.setdefault(server.run_info.step, []).append(server)
        groups = list(by_step.items())
        started = time.monotonic()
        answered = 0  # groups answered
        try:
            if conn is None:
                conn = self._pool.connect()
                conn.autocommit = True  # each commit_ticks statement is its own transaction: one round trip
            with conn.cursor() as cur:
                for step, servers in groups:
                    try:
                        refused = self._commit_step(cur, step, servers)
                    except UNAVAILABLE:
                        raise
                    except Exception as exc:  # this statement only: the connection is still good
                        log.error("greenrow.tick.step_failed step=%d rows=%d error=%s", step, len(servers), exc)
                        _fail(servers, exc)
                    else:
                        self._answer(servers, refused, started)
                    answered += 1
        except UNAVAILABLE as exc:
            self._database.failed("tick batch", exc)
            if conn is not None:
                conn.close()
            for _, servers in groups[answered:]:
                _fail(servers, exc)
            return None
        self._database.succeeded()
        self._telemetry.bump("tick_batches")
        self._telemetry.tick_batch_size.record(len(batch))
        return conn

    def _answer(self, servers, refused, started):
        committed_at = time.monotonic()
        telemetry = self._telemetry
        telemetry.bump("ticks_committed", len(servers) - len(refused))
        telemetry.bump("ticks_not_applied", len(refused))
        telemetry.tick_commit.record((committed_at - started) * 1000.0)
        for count, server in enumerate(servers, 1):
            server.tick_committed(server.row_id not in refused, committed_at)
            if count % YIELD_EVERY == 0:
                gevent.sleep(0)  # let the hub serve requests in a big batch's answers

    def _next_batch(self):
        while not self._queued:
            self._has_work.clear()
            event_wait.wait(self._has_work)
        if self._batch_s:
            gevent.sleep(self._batch_s)
        batch = self._queued[: self._batch_max]
        del self._queued[: self._batch_max]
        self._in_flight += 1
        return batch

    def _commit_step(self, cur, step, servers):
        """Run commit_ticks for one step's servers (its own transaction); returns the refused ids. A
        deadlock victim applied nothing: retry."""
        params = {"ids": _array_literal([server.row_id for server in servers]),
                  "epochs": _array_literal([server.epoch for server in servers]),
                  "shard_count": self._shards, "step": step, "node_id": self._node_id}
        for attempt in range(RETRIES_ON_DEADLOCK + 1):
            try:
                run_query(cur, "commit_ticks", params)
                return set(cur.fetchone()[0])
            except psycopg2.errors.DeadlockDetected:
                if attempt == RETRIES_ON_DEADLOCK:
                    raise
                self._telemetry.bump("tick_batch_retries")


def _fail(servers, error):
    for server in servers:
        server.tick_failed(error)


def _array_literal(numbers):
    """An integer array as one text literal: several times cheaper to build than psycopg2's per-item adaptation."""
    return "{" + ",".join(map(str, numbers)) + "}"
