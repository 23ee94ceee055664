"""The row server: one greenlet per row, with its own mailbox, its own tick and its own inbox.

A server launched by its run's monitor ticks: every ``tick_ms`` after its previous commit it hands one
tick to the node's group-commit writer and waits for that commit; at 0 it exits normally. A server
activated on demand (a message for a row with no live server) drains the row's inbox and exits.
Either kind handles messages in arrival order, one transaction each. Everything that must survive a
crash or a move to another node is in the database; the server is a cache of its row.
"""
import logging
import random
import time

import gevent
import psycopg2
from gevent import Greenlet

from greenlets.db.queries import QUERIES
from greenlets.mailbox import TIMEOUT, Mailbox
from greenlets.messages import CrashRequested, effect
from greenlets.views import row_view

log = logging.getLogger(__name__)

# Mailbox items besides TIMEOUT (which means "the next tick is due").
MESSAGES = "messages"   # the durable inbox has something for this row
LAUNCH = "launch"       # the monitor made this row active: start ticking
STOP = "stop"           # leave at the next turn (run stopped, node stopping)

FIRST_TICK_JITTER_S = 0.05

DISCARDED = object()
# Errors that a message's effect will hit every time: its message is set aside, not retried.
POISON = (psycopg2.DataError, psycopg2.IntegrityError, KeyError, TypeError, ValueError)


class Fenced(Exception):
    """This node no longer holds the row's shard lease: the server must leave without writing."""


class RunInfo:
    """What a row server needs of its run; shared by all its row servers."""

    __slots__ = ("id", "step", "tick_s")

    def __init__(self, run_id, step, tick_ms):
        self.id = run_id
        self.step = step
        self.tick_s = tick_ms / 1000.0


class RowServer(Greenlet):
    def __init__(self, node, row_id, run, launched, row_value=None, paused=False, check_inbox=False):
        Greenlet.__init__(self)
        self.node = node
        self.row_id = row_id
        self.run_info = run
        self.launched = launched
        self.row_value = row_value
        self.paused = paused
        self.mailbox = Mailbox()
        self.next_due = None
        self.check_inbox = check_inbox or not launched
        self.left_mid_inbox = False

    def __str__(self):
        return f"<RowServer row={self.row_id} run={self.run_info.id} value={self.row_value}>"

    # --- public API ---------------------------------------------------------------------------

    def notify_messages(self):
        self.mailbox.put(MESSAGES)

    def launch(self):
        self.mailbox.put(LAUNCH)

    def stop(self):
        self.mailbox.put(STOP)

    # --- the server loop ------------------------------------------------------------------------

    def _run(self):
        try:
            reason = self._serve()
        except BaseException:
            self.node.registry.remove(self)  # the supervisor restarts it; the restart reads the inbox
            raise
        self.node.registry.remove(self)
        if reason != "fenced" and (self.left_mid_inbox or MESSAGES in self.mailbox):
            self.node.deliver(self.row_id)  # messages came after the one that ended this server
        return reason

    def _serve(self):
        if self.row_value is None:
            self._load()
        if self.launched:
            self._schedule_tick(first=True)
        if self.check_inbox:
            self.mailbox.put(MESSAGES)
        while True:
            item = self.mailbox.get(self._seconds_to_next_tick())
            try:
                if item is TIMEOUT:
                    if not self._tick():
                        return "done" if self.row_value == 0 else "stopped"
                elif item is MESSAGES:
                    if not self._drain_inbox():
                        self.left_mid_inbox = True
                        return "done" if self.row_value == 0 else "stopped"
                    if not self.launched and not self.mailbox:
                        return "drained"
                elif item is LAUNCH:
                    self.launched = True
                    if not self.row_value:
                        return "done"  # a message took the row to 0 after the monitor claimed it
                    self._schedule_tick(first=True)
                elif item is STOP:
                    return "stopped"
            except Fenced:
                log.info("row %s: shard lease lost, server leaves", self.row_id)
                return "fenced"

    def _seconds_to_next_tick(self):
        if self.next_due is None:
            return None
        return self.next_due - time.monotonic()

    def _schedule_tick(self, first=False, after=None):
        if not self.launched or self.paused or not self.row_value:
            self.next_due = None
            return
        base = time.monotonic() if after is None else after
        jitter = random.uniform(0, min(FIRST_TICK_JITTER_S, self.run_info.tick_s / 10)) if first else 0.0
        self.next_due = base + self.run_info.tick_s + jitter

    # --- ticks ----------------------------------------------------------------------------------

    def _tick(self):
        """Commit one tick through the group writer; False when the server should leave."""
        due = self.next_due
        value, committed_at = self.node.tick_writer.commit_tick(self.row_id, self.run_info.step)
        self.node.telemetry.tick_lateness.record((committed_at - due) * 1000.0)
        if value is None:
            # Not applied: the run was stopped, or the shard lease is gone. Nothing to write.
            self.next_due = None
            return False
        self.row_value = value
        if value == 0:
            return False
        self._schedule_tick(after=committed_at)
        return True

    # --- messages -------------------------------------------------------------------------------

    def _drain_inbox(self):
        """Apply every message waiting in the row's inbox, oldest first; False when the server should leave."""
        while True:
            applied = self._apply_next_message()
            if applied is None:
                return True
            if applied is DISCARDED:
                continue
            message_id, message_type, reply_to, row = applied
            self.row_value = row["value"]
            self.paused = row["paused"]
            self.node.telemetry.bump("messages_applied")
            if reply_to:
                self.node.router.reply(reply_to, self._reply(message_type, row))
            if message_type == "crash":
                raise CrashRequested(f"crash requested by message {message_id} for row {self.row_id}")
            if self.launched and row["state"] != "active":
                return False
            if self.next_due is None or self.paused:
                self._schedule_tick()

    def _apply_next_message(self):
        """Apply the oldest message; None when the inbox is empty, DISCARDED for a poison message."""
        message = None
        try:
            with self.node.pool.transaction(dicts=True) as cur:
                cur.execute(QUERIES["take_next_message"], {"row_id": self.row_id})
                message = cur.fetchone()
                if message is None:
                    return None
                params = effect(message["type"], message["body"])
                params.update(row_id=self.row_id, node_id=self.node.id)
                cur.execute(QUERIES["apply_message"], params)
                row = cur.fetchone()
                if row is None:
                    raise Fenced()
        except POISON as exc:
            # Deterministic: retrying would fail the same way and block every message behind it.
            self._discard(message, exc)
            return DISCARDED
        return message["id"], message["type"], message["reply_to"], row

    def _discard(self, message, error):
        log.error("greenrow.message.discarded row=%s message=%s type=%s error=%s",
                  self.row_id, message["id"], message["type"], str(error).strip())
        if self.node.pool.fetch_one("discard_message", {"message_id": message["id"], "node_id": self.node.id}) is None:
            raise Fenced()
        self.node.telemetry.bump("messages_discarded")
        if message["reply_to"]:
            self.node.router.reply(message["reply_to"], {
                "type": message["type"], "node": self.node.id,
                "error": {"code": "message_discarded", "message": f"message could not be applied: {error}"}})

    def _reply(self, message_type, row):
        reply = row_view(row, self.node.id)
        reply["type"] = "pong" if message_type == "ping" else message_type
        return reply

    def _load(self):
        with self.node.pool.transaction(dicts=True) as cur:
            cur.execute(QUERIES["row_state"], {"row_id": self.row_id})
            row = cur.fetchone()
        if row is None:
            raise LookupError(f"row {self.row_id} does not exist")
        self.row_value = row["value"]
        self.paused = row["paused"]


def stop_all(servers, timeout_s):
    """Ask servers to leave and wait for them; kill the ones still busy after ``timeout_s``."""
    servers = [server for server in servers if not server.dead]
    for server in servers:
        server.stop()
    gevent.joinall(servers, timeout=timeout_s)
    gevent.killall([server for server in servers if not server.dead], block=True, timeout=timeout_s)
