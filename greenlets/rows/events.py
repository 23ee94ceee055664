"""A row's live events for whoever watches it (GET /rows/<id>/events): the messages its server handles
and its crashes, pushed as they happen, from whichever node owns the row.

Nothing is recorded for a row nobody watches: a row server asks ``watched(row_id)`` (a lookup in a
dict that is empty unless someone watches) before it builds an event, and the tick path asks nothing
(the stream reads the row itself about once a second, which shows its ticks, status and owner).

A stream lives on the node that took its request; the row's server lives on its shard's owner. The
stream's node asks the owner to forward the row's events (a ``watch`` notification, renewed while the
stream lasts, forgotten by the owner ``REMOTE_WATCH_S`` after the last renewal), and the owner sends
each event back as a ``row_event`` notification addressed to that node. When the row moves to another
node, the next renewal reaches the new owner. A lost notification loses an event, never the row's
state: the stream's own reads stay the truth.
"""
import time

from gevent.queue import Full, Queue

REMOTE_WATCH_S = 15.0      # how long an owner forwards a row's events after the last watch renewal
RENEW_WATCH_S = 5.0        # how often a stream renews its watch on the owner
STREAM_BACKLOG = 100       # events a slow stream may fall behind by before the oldest are dropped
CLOSED = object()          # put in a stream's queue when the node stops: the stream ends


class StreamsFull(Exception):
    """This node already serves its GREENROW_MAX_EVENT_STREAMS streams."""


class RowEvents:
    def __init__(self, node, max_streams):
        self._node = node
        self.max_streams = max_streams
        self._local = {}     # row id -> set of this node's stream queues
        self._remote = {}    # row id -> {node id: time the watch lapses}
        self.streams = 0

    def __str__(self):
        return f"<RowEvents streams={self.streams} rows={len(self._local)} forwarded={len(self._remote)}>"

    # --- the row server's side (the owner) ------------------------------------------------------------
    def watched(self, row_id):
        return row_id in self._local or row_id in self._remote

    def publish(self, row_id, event):
        """An event of a row this node serves: to this node's streams, and forwarded to the watching nodes."""
        event = dict(event, row=row_id, node=self._node.id, at=time.time())
        self.deliver(row_id, event)
        self._drop_lapsed(time.monotonic(), (row_id,))
        for node_id in self._remote.get(row_id, ()):
            if node_id != self._node.id:
                self._node.router.send_quietly({"k": "row_event", "to": node_id, "row": row_id, "event": event})

    def forward_to(self, row_id, node_id):
        """A peer's stream watches a row this node may own: forward its events for REMOTE_WATCH_S. Every
        node hears every watch, and a node that does not own the row never publishes for it: lapsed watches
        are dropped here too, so they do not pile up (a few per stream of the cluster, at most)."""
        now = time.monotonic()
        self._drop_lapsed(now, list(self._remote))
        self._remote.setdefault(row_id, {})[node_id] = now + REMOTE_WATCH_S

    def _drop_lapsed(self, now, row_ids):
        for row_id in row_ids:
            watchers = self._remote.get(row_id)
            if watchers is None:
                continue
            for node_id, lapses in list(watchers.items()):
                if lapses < now:
                    del watchers[node_id]
            if not watchers:
                del self._remote[row_id]

    # --- the stream's side ------------------------------------------------------------------------------
    def subscribe(self, row_id):
        """A queue receiving the row's events; StreamsFull past the bound. Give it back with unsubscribe."""
        if self.streams >= self.max_streams:
            raise StreamsFull(self.max_streams)
        self.streams += 1
        queue = Queue(STREAM_BACKLOG)
        self._local.setdefault(row_id, set()).add(queue)
        return queue

    def unsubscribe(self, row_id, queue):
        queues = self._local.get(row_id)
        if queues is not None and queue in queues:
            queues.discard(queue)
            self.streams -= 1
            if not queues:
                del self._local[row_id]

    def watch_remotely(self, row_id):
        """Ask every node (the owner is the one that acts on it) to forward this row's events here."""
        self._node.router.send_quietly({"k": "watch", "row": row_id, "from": self._node.id})

    def deliver(self, row_id, event):
        """An event for this node's streams of the row (its own, or forwarded by the owner)."""
        for queue in list(self._local.get(row_id, ())):
            _put_dropping_oldest(queue, event)

    def close_all(self):
        """The node stops: every stream ends now, so none holds up gunicorn's graceful stop."""
        for queues in list(self._local.values()):
            for queue in list(queues):
                _put_dropping_oldest(queue, CLOSED)


def _put_dropping_oldest(queue, item):
    while True:
        try:
            queue.put_nowait(item)
            return
        except Full:
            try:
                queue.get_nowait()
            except Exception:
                return
