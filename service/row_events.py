"""GET /rows/<id>/events: one row's life as Server-Sent Events, from whichever node took the request.

    event: row       the row as GET /rows/<id> shows it: first at once, then whenever it changes (read
                     about once a second: value, status, owner node, inbox, restarts, ticks)
    event: message   a message its server handled (type, message id, the value after it), pushed by the owner
    event: crash     its server crashed (the error, and whether it restarts or the row failed)
    event: error     the database is unavailable for now (the stream goes on and reads again)
    event: end       the node is stopping, or the row is gone: the stream ends (reconnect to go on)

A comment line every 15 s keeps proxies from timing out a quiet stream. Each node serves at most
GREENROW_MAX_EVENT_STREAMS streams at once (429 too_many_streams past it); a stream whose client went
away gives its place back within about a second (its socket is looked at each second: a write alone
finds a closed peer only at the second write after it, 30 s later on a quiet row). nginx must not buffer the
stream: the response says so (X-Accel-Buffering: no). Greenrow-Node names the node serving the stream.
"""
import json
import select
import socket
import time

from flask import Blueprint, Response, request
from gevent.queue import Empty

from greenlets.db.pool import UNAVAILABLE
from greenlets.errors import RuntimeUnavailable
from greenlets.rows.events import CLOSED, RENEW_WATCH_S, StreamsFull
from service.context import current_node
from service.errors import ApiError, found

bp = Blueprint("row_events", __name__)

READ_EVERY_S = 1.0
KEEPALIVE_S = 15.0
RETRY_AFTER_S = 5


@bp.get("/rows/<id:row_id>/events")
def row_events(row_id):
    node = current_node()
    row = found(node.get_row(row_id), "row", row_id)
    try:
        queue = node.row_events.subscribe(row_id)
    except StreamsFull as full:
        raise ApiError(429, "too_many_streams",
                       f"this node already serves {full.args[0]} event streams (GREENROW_MAX_EVENT_STREAMS); "
                       "try again later", headers=[("Retry-After", str(RETRY_AFTER_S))]) from None
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Greenrow-Node": node.id}
    client = request.environ.get("gunicorn.socket")
    return Response(_stream(node, row_id, queue, row, client), mimetype="text/event-stream", headers=headers)


def _client_gone(client):
    """Whether the client closed its connection: its socket reads as at its end (it sends nothing more on
    an event stream, so readable means closed or reset). Never waits (select with no timeout)."""
    if client is None:
        return False
    try:
        readable, _, _ = select.select([client], [], [], 0)
        return bool(readable) and client.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _stream(node, row_id, queue, row, client):
    try:
        yield _event("row", row)
        last, unavailable = row, False
        now = time.monotonic()
        next_read, next_watch, next_keepalive = now + READ_EVERY_S, now, now + KEEPALIVE_S
        while not node.draining:
            now = time.monotonic()
            if now >= next_watch:
                next_watch = now + RENEW_WATCH_S
                if last.get("node") not in (None, node.id):  # served elsewhere: its owner forwards the events
                    node.row_events.watch_remotely(row_id)
            try:
                item = queue.get(timeout=max(0.0, min(next_read, next_watch) - now))
            except Empty:
                item = None
            if item is CLOSED:
                break
            if item is not None:
                yield _event(item["type"], item)
                next_keepalive = time.monotonic() + KEEPALIVE_S
                continue
            if time.monotonic() < next_read:
                continue
            next_read = time.monotonic() + READ_EVERY_S
            if _client_gone(client):
                return
            try:
                row = node.get_row(row_id)
            except (UNAVAILABLE, RuntimeUnavailable):
                if not unavailable:
                    yield _event("error", {"code": "unavailable", "message": "the database is unavailable; "
                                                                             "reading the row again each second"})
                    unavailable = True
                continue
            unavailable = False
            if row is None:
                yield _event("end", {"reason": f"row {row_id} no longer exists"})
                return
            if row != last:
                yield _event("row", row)
                last, next_keepalive = row, time.monotonic() + KEEPALIVE_S
            elif time.monotonic() >= next_keepalive:
                yield ": keepalive\n\n"
                next_keepalive = time.monotonic() + KEEPALIVE_S
        yield _event("end", {"reason": "the node is stopping; reconnect to go on with another"})
    finally:
        node.row_events.unsubscribe(row_id, queue)


def _event(name, data):
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
