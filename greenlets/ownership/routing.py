"""Routing between nodes over PostgreSQL notifications (one channel, JSON payloads, ids only).

| payload                                   | sent by                         | handled by            |
| ----------------------------------------- | ------------------------------- | --------------------- |
| {"k": "wake", "row": id}                  | the node that committed a message for a row it does not own (same transaction) | the row's owner: deliver |
| {"k": "reply", "to": node, "token": t, "reply": {...}} | a row server answering a call, or an owner answering a row read | the caller's node |
| {"k": "row", "to": owner, "row": id, "token": t} | a node asked GET /rows/<id> for a row another node owns (the row read sends it, in SQL) | the owner: its view of the row |
| {"k": "run", "run": id}                   | the node that created a run     | every node: start its monitor |
| {"k": "run_stop", "run": id}              | the node that stopped a run     | every node: stop its monitor |
| {"k": "watch", "row": id, "from": node}   | a node serving a row's event stream (GET /rows/<id>/events), every few s | the row's owner: forward its events |
| {"k": "row_event", "to": node, "row": id, "event": {...}} | the owner of a watched row, as its server handles a message or crashes | the stream's node |

A lost notification delays, never loses: messages stay in the inbox and every node re-reads its
inboxes and the running runs every few seconds and after each reconnect.
"""
import logging

import gevent

from greenlets.db.pool import UNAVAILABLE
from greenlets.errors import CallTimeout
from greenlets.ownership.listener import CHANNEL, encode, notify_sql

log = logging.getLogger(__name__)


class Router:
    def __init__(self, node):
        self._node = node

    def __str__(self):
        return f"<Router node={self._node.id}>"

    # --- sending ---
    def send(self, payload, cur=None):
        """Notify every node; with ``cur``, as part of that cursor's transaction."""
        if cur is not None:
            cur.execute(notify_sql(), (CHANNEL, encode(payload)))
        else:
            with self._node.pool.statement() as own:
                own.execute(notify_sql(), (CHANNEL, encode(payload)))

    def send_quietly(self, payload):
        """Notify every node from a greenlet of its own, for what may be lost (a row's live events): the
        caller does not wait for a connection, and a failure is counted, not raised."""
        gevent.spawn(self._send_or_count, payload)

    def _send_or_count(self, payload):
        try:
            self.send(payload)
        except UNAVAILABLE as exc:
            self._node.database.failed("row event", exc)

    def wake_params(self, row_id):
        """Parameters of a statement that wakes a row's owner itself (insert_message): its channel and payload."""
        return {"channel": CHANNEL, "wake": encode({"k": "wake", "row": row_id})}

    def is_local(self, token):
        """Whether the caller a reply token names waits on this node."""
        return token.split("/", 1)[0] == self._node.id

    def reply(self, token, reply, cur=None):
        """Answer a caller, on this node or another one (the token says which); with ``cur``, a reply to
        another node goes out as part of that cursor's transaction."""
        node_id = token.split("/", 1)[0]
        if node_id == self._node.id:
            self._node.calls.reply(token, reply)
        else:
            self.send({"k": "reply", "to": node_id, "token": token, "reply": reply}, cur)

    def row_request_params(self, token):
        """Parameters of a row read that asks the row's owner for its view itself (row_view): its
        channel and the caller's reply token (None: ask nobody)."""
        return {"channel": CHANNEL, "token": token}

    def wait_for_row(self, token, row_id, owner, timeout_ms):
        """The owner's view of a row it was asked for, or None if it did not answer in time."""
        try:
            return self._node.calls.wait(token, None, timeout_ms)
        except CallTimeout:
            log.warning("node %s did not answer for row %s within %d ms", owner, row_id, timeout_ms)
            return None

    # --- receiving (runs in the listener greenlet: hand anything slow to a new greenlet) ---
    def dispatch(self, payload):
        kind = payload.get("k")
        node = self._node
        if kind == "wake":
            node.deliver(int(payload["row"]))
        elif kind == "reply":
            if payload.get("to") == node.id:
                node.calls.reply(payload["token"], payload["reply"])
        elif kind == "row":
            if payload.get("to") == node.id:
                gevent.spawn(self._answer_row, int(payload["row"]), payload["token"])
        elif kind == "run":
            gevent.spawn(node.ensure_monitors)
        elif kind == "watch":
            if payload.get("from") != node.id:
                node.row_events.forward_to(int(payload["row"]), payload["from"])
        elif kind == "row_event":
            if payload.get("to") == node.id:
                node.row_events.deliver(int(payload["row"]), payload["event"])
        elif kind == "run_stop":
            monitor = node.monitors.get(int(payload["run"]))
            if monitor is not None:
                gevent.spawn(monitor.stop)

    def _answer_row(self, row_id, token):
        try:
            self.reply(token, self._node.owner_row_view(row_id))
        except UNAVAILABLE as exc:  # the asking node answers from the table after its timeout
            self._node.database.failed("row read for a peer", exc)
