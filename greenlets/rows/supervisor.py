"""Supervision of row servers: restarted when they crash, up to a restart intensity.

``RowSupervisor`` follows OTP's restart intensity: a row may crash ``max_restarts`` times in
``max_seconds``; each restart waits a doubling backoff and reloads the row from the database. Past
the limit the row is marked ``failed`` and stays so until a ``set`` message revives it, unless the
crashes came from one message still in its inbox: that message goes to the dead letters instead and the
server goes on with the next one (greenlets/dead_letters.py).

The database being unavailable is not a crash: a restart or a failure that cannot be written waits
and is tried again, without counting toward the row's restart intensity.
"""
import logging
import time
from collections import deque

import gevent
from gevent.event import Event
from gevent.pool import Group

from greenlets import event_wait
from greenlets.db.pool import UNAVAILABLE
from greenlets.dead_letters import crashed_on, set_aside
from greenlets.rows.crashes import CrashLog
from greenlets.telemetry.hub_watch import describe

log = logging.getLogger(__name__)

# A restart (or a failure) that could not reach the database is tried again after this long.
DATABASE_RETRY_S = 0.5


class RowSupervisor:
    def __init__(self, node, max_restarts, max_seconds, backoff_ms):
        self._node = node
        self._max_restarts = max_restarts
        self._max_seconds = max_seconds
        self._backoff_s = backoff_ms / 1000.0
        self._crashed = deque()
        self._has_work = Event()
        self._recent = {}
        self._restarts = Group()
        self._restarting = set()
        self._crashes = CrashLog(log)

    def __str__(self):
        return f"<RowSupervisor crashed={len(self._crashed)} restarting={len(self._restarts)}>"

    def restarts_waiting(self):
        """Crashed row servers waiting for their restart (or for their failure to be written)."""
        return len(self._restarts)

    def is_restarting(self, row_id):
        """A crashed server of this row waits for its restart: its messages wait for that restart too."""
        return row_id in self._restarting

    def on_exit(self, server):
        """rawlink callback (runs in the hub): a row server's greenlet ended."""
        self._node.registry.remove(server)  # a server normally removes itself; a killed one cannot
        if server.successful():
            self.left(server)
            return
        self._node.telemetry.bump("row_servers_exited")
        self._node.telemetry.bump("row_servers_crashed")
        self._restarting.add(server.row_id)
        self._crashed.append(server)
        self._has_work.set()

    def left(self, server):
        """A row server ended normally: its greenlet did, or it left without ever starting one."""
        self._node.telemetry.bump("row_servers_exited")
        self._recent.pop(server.row_id, None)
        if server.launched:
            self._node.release_slot(server.run_info.id, server.row_id)

    def run(self):
        while True:
            while not self._crashed:
                self._has_work.clear()
                event_wait.wait(self._has_work)
            self._handle_crash(self._crashed.popleft())

    def stop(self):
        self._restarts.kill(block=True, timeout=5)

    def _handle_crash(self, server):
        if self._node.stopping:
            self._restarting.discard(server.row_id)
            return
        row_id = server.row_id
        now = time.monotonic()
        recent = self._recent.setdefault(row_id, deque())
        while recent and now - recent[0] > self._max_seconds:
            recent.popleft()
        recent.append(now)
        if len(recent) > self._max_restarts:
            message = crashed_on(server.exception)
            if message is not None:
                self._set_aside(server, message, len(recent))
            else:
                self._fail(server, len(recent))
            return
        self._report(logging.WARNING, "greenrow.row.restart", server,
                     f"restart={len(recent)}/{self._max_restarts} within={self._max_seconds}s")
        backoff = self._backoff_s * 2 ** (len(recent) - 1)
        self._restarts.add(gevent.spawn_later(backoff, self._restart, server))

    def _fail(self, server, crashes):
        try:
            self._node.pool.fetch_one("fail_row", {"row_id": server.row_id, "node_id": self._node.id,
                                                   "epoch": server.epoch}, priority=True)
        except UNAVAILABLE as exc:
            self._node.database.failed("row failure", exc)
            self._restarts.add(gevent.spawn_later(DATABASE_RETRY_S, self._fail, server, crashes))
            return
        self._recent.pop(server.row_id, None)
        self._restarting.discard(server.row_id)
        self._node.telemetry.bump("rows_failed")
        self._report(logging.ERROR, "greenrow.row.failed", server, f"crashes={crashes} within={self._max_seconds}s")
        if server.launched:
            self._node.release_slot(server.run_info.id, server.row_id)

    def _report(self, level, event, server, details):
        """The crash in the log, and to whoever watches the row (GET /rows/<id>/events)."""
        self._crashes.log(level, event, server, details)
        if self._node.row_events.watched(server.row_id):
            self._node.row_events.publish(server.row_id, {
                "type": "crash", "outcome": "failed" if level >= logging.ERROR else "restarting",
                "error": describe(server.exception), "details": details})

    def _set_aside(self, server, message, crashes):
        """The crashes came from one message, still first in the row's inbox: it goes to the dead letters
        and the server is restarted at once for the next message, with its crash count started over."""
        why = f"it crashed the row server {crashes} times within {self._max_seconds}s"
        try:
            set_aside(self._node, server.row_id, server.epoch, message, server.exception, why)
        except UNAVAILABLE as exc:
            self._node.database.failed("dead letter", exc)
            self._restarts.add(gevent.spawn_later(DATABASE_RETRY_S, self._set_aside, server, message, crashes))
            return
        self._recent.pop(server.row_id, None)
        self._restarts.add(gevent.spawn(self._restart, server))  # (lease lost: the restart finds it out)

    def _restart(self, server):
        if self._node.stopping:
            self._restarting.discard(server.row_id)
            return
        try:
            row = self._node.pool.fetch_one(
                "count_restart", {"row_id": server.row_id, "node_id": self._node.id, "epoch": server.epoch},
                dicts=True, priority=True)
        except UNAVAILABLE as exc:  # not a new crash: the same restart, a little later
            self._node.database.failed("row restart", exc)
            self._restarts.add(gevent.spawn_later(DATABASE_RETRY_S, self._restart, server))
            return
        self._restarting.discard(server.row_id)
        launched = server.launched and row is not None and row["state"] == "active"
        if server.launched and not launched:
            self._node.release_slot(server.run_info.id, server.row_id)
        if row is None:
            return  # the shard lease is gone (the new owner runs this row), or the row failed meanwhile
        self._node.telemetry.bump("row_restarts")
        self._node.registry.start(server.row_id, server.run_info, launched, row["value"], row["paused"],
                                  server.epoch, check_inbox=True)
