"""Group commit of ticks: many row servers' ticks in one fenced UPDATE every few milliseconds.

A row server calls ``commit_tick`` and is parked until the statement holding its tick has
committed, so every tick is still its own durable, fenced step and the server schedules its next
tick only after its own commit. The writer greenlets gather the ticks queued meanwhile, run
``commit_ticks`` once per batch and wake each server with its row's new value (or None when the tick
was not applied: the row was stopped, paused or its shard lease is no longer ours).
"""
import logging
import time

import gevent
import psycopg2.errors
from gevent import get_hub
from gevent.event import Event
from gevent.hub import Waiter

from greenlets.db.queries import QUERIES

log = logging.getLogger(__name__)

RETRIES_ON_DEADLOCK = 3


class TickWriter:
    def __init__(self, pool, node_id, telemetry, batch_ms, batch_max):
        self._pool = pool
        self._node_id = node_id
        self._telemetry = telemetry
        self._batch_s = batch_ms / 1000.0
        self._batch_max = batch_max
        self._queued = []
        self._has_work = Event()

    def __str__(self):
        return f"<TickWriter queued={len(self._queued)}>"

    def commit_tick(self, row_id, step):
        """Block until this row's tick is committed; returns (new value or None, commit time)."""
        waiter = Waiter()
        self._queued.append((row_id, step, waiter))
        if len(self._queued) == 1:
            self._has_work.set()
        return waiter.get()

    def run(self):
        """One writer loop; a node runs a few of them so one batch's fsync overlaps the next's."""
        while True:
            while not self._queued:
                self._has_work.clear()
                self._has_work.wait()
            if self._batch_s:
                gevent.sleep(self._batch_s)
            batch = self._queued[: self._batch_max]
            del self._queued[: self._batch_max]
            if not batch:
                continue
            try:
                values, committed_at = self._commit(batch)
            except BaseException as exc:
                get_hub().loop.run_callback(_throw_all, batch, exc)
                if not isinstance(exc, Exception):
                    raise
                log.error("tick batch of %d failed: %s", len(batch), exc)
                continue
            get_hub().loop.run_callback(_wake_all, batch, values, committed_at)

    def _commit(self, batch):
        ids = [row_id for row_id, _, _ in batch]
        steps = [step for _, step, _ in batch]
        params = {"ids": ids, "steps": steps, "node_id": self._node_id}
        started = time.monotonic()
        for attempt in range(RETRIES_ON_DEADLOCK + 1):
            try:
                with self._pool.transaction() as cur:
                    cur.execute(QUERIES["commit_ticks"], params)
                    values = dict(cur.fetchall())
                break
            except psycopg2.errors.DeadlockDetected:
                if attempt == RETRIES_ON_DEADLOCK:
                    raise
                self._telemetry.bump("tick_batch_retries")
        committed_at = time.monotonic()
        telemetry = self._telemetry
        telemetry.bump("tick_batches")
        telemetry.bump("ticks_committed", len(values))
        telemetry.bump("ticks_not_applied", len(batch) - len(values))
        telemetry.tick_batch_size.record(len(batch))
        telemetry.tick_commit.record((committed_at - started) * 1000.0)
        return values, committed_at


def _wake_all(batch, values, committed_at):
    # Runs in the hub: each switch runs that row server until it parks again, then comes back here.
    for row_id, _, waiter in batch:
        waiter.switch((values.get(row_id), committed_at))


def _throw_all(batch, exc):
    for _, _, waiter in batch:
        waiter.throw(type(exc), exc)
