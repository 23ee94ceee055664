"""The node's ear: one dedicated LISTEN connection (never pooled) on the cluster's channel.

NOTIFY is only a doorbell between nodes; the tables stay the truth. After every (re)connect the
node catches up by reading its inboxes, because notifications sent while it was not listening are
gone. Keepalives (the pool's network timeouts) detect a dead connection; a connection that fails or
is cut (the database restarting, an administrator ending the session) is opened again after a short
wait, reported once per outage (DatabaseHealth) rather than as a crash.
"""
import json
import logging

import gevent
from gevent.socket import wait_read

from greenlets.db.pool import UNAVAILABLE

log = logging.getLogger(__name__)

CHANNEL = "greenrow"
IDLE_CHECK_S = 30.0
RECONNECT_AFTER_S = 0.5


def notify_sql():
    """SQL that sends one payload on the channel; run inside the transaction it belongs to."""
    return "SELECT pg_notify(%s, %s)"


def encode(payload):
    return json.dumps(payload, separators=(",", ":"))


class Listener:
    def __init__(self, node, dispatch):
        self._node = node
        self._dispatch = dispatch

    def __str__(self):
        return f"<Listener node={self._node.id}>"

    def run(self):
        while True:
            try:
                self._listen()
            except UNAVAILABLE as exc:
                self._node.database.failed("listener", exc)
                gevent.sleep(RECONNECT_AFTER_S)

    def _listen(self):
        conn = self._node.pool.connect()  # with the pool's keepalives
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"LISTEN {CHANNEL}")
            log.info("greenrow.listener.start node=%s", self._node.id)
            self._node.database.succeeded()
            gevent.spawn(self._node.catch_up)
            gevent.spawn(self._node.settle_calls)
            while True:
                try:
                    wait_read(conn.fileno(), timeout=IDLE_CHECK_S)
                except TimeoutError:
                    with conn.cursor() as cur:  # quiet for long: prove the connection still works
                        cur.execute("SELECT 1")
                conn.poll()
                while conn.notifies:
                    self._handle(conn.notifies.pop(0).payload)
        finally:
            conn.close()

    def _handle(self, raw):
        try:
            payload = json.loads(raw)
        except ValueError:
            log.warning("ignoring a notification that is not JSON: %.200s", raw)
            return
        try:
            self._dispatch(payload)
        except Exception:
            log.exception("could not handle notification %.200s", raw)
