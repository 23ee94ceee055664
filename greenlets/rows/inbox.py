"""How a row server applies the messages of its durable inbox: oldest first, one transaction each.

Each message's removal and its effect on the row commit together (exactly once). A call's reply to a
caller on another node is sent in that same transaction (a notification goes out when, and only if,
the effect commits: a connection cut after the commit cannot lose it on this side). A message whose
effect can never be applied is moved to the dead letters at once, so it cannot block the ones behind
it; one that raises anything else crashes the server, tagged with the message (greenlets/dead_letters.py).
"""
import logging

import psycopg2

from greenlets.db.pool import UNAVAILABLE
from greenlets.db.queries import run_query
from greenlets.dead_letters import CRASHED_ON, set_aside
from greenlets.idempotency import store_call_reply
from greenlets.rows.messages import effect
from greenlets.views import row_view

log = logging.getLogger(__name__)

# Errors that a message's effect will hit every time: its message is set aside, not retried.
POISON = (psycopg2.DataError, psycopg2.IntegrityError, KeyError, TypeError, ValueError)


class Fenced(Exception):
    """This node no longer holds the row's shard lease: the server must leave without writing."""


class Applied:
    """One applied message: what it was and the row after it."""

    __slots__ = ("message_id", "type", "reply_to", "row", "more")

    def __init__(self, message_id, message_type, reply_to, row, more):
        self.message_id = message_id
        self.type = message_type
        self.reply_to = reply_to
        self.row = row
        self.more = more  # later messages were waiting behind this one


def apply_next_message(node, row_id, epoch):
    """Apply the row's oldest message: an Applied, None when the inbox is empty, or DISCARDED."""
    message = None
    try:
        with node.pool.transaction(dicts=True) as cur:
            run_query(cur, "take_next_message", {"row_id": row_id})
            message = cur.fetchone()
            if message is None:
                return None
            params = effect(message["type"], message["body"])
            params.update(row_id=row_id, node_id=node.id, epoch=epoch)
            run_query(cur, "apply_message", params)
            row = cur.fetchone()
            if row is None:
                raise Fenced()
            applied = Applied(message["id"], message["type"], message["reply_to"], row, message["more"])
            store_call_reply(cur, applied.message_id, applied.reply_to, reply_for(applied, node.id))
            if applied.reply_to and not node.router.is_local(applied.reply_to):
                node.router.reply(applied.reply_to, reply_for(applied, node.id), cur)
                applied.reply_to = None  # answered
    except POISON as exc:
        # Deterministic: retrying would fail the same way and block every message behind it.
        if set_aside(node, row_id, epoch, message, exc, "its effect can never be applied") is None:
            raise Fenced() from None
        node.telemetry.message(message["type"], "discarded")
        return DISCARDED
    except Exception as exc:
        if message is not None and not isinstance(exc, (Fenced, *UNAVAILABLE)):
            # The server crashes with the message still first in its inbox: its supervisor moves it to
            # the dead letters if it crashes the server past the row's restart limit.
            setattr(exc, CRASHED_ON, message)
        raise
    return applied


DISCARDED = object()


def reply_for(applied, node_id):
    """The reply a caller gets: the row after the message, with the message type and the node."""
    reply = row_view(applied.row, node_id)
    reply["type"] = reply_type(applied.type)
    return reply


def reply_type(message_type):
    """The type a reply carries: the message's own, but a ping is answered by a pong."""
    return "pong" if message_type == "ping" else message_type
