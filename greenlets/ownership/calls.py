"""Callers waiting for a row server's reply (``?wait=true``), keyed by the message's reply token."""
import uuid

import gevent
from gevent.event import AsyncResult

from greenlets.errors import CallTimeout
from greenlets.idempotency import KEYED_SUFFIX


class _GivenUp(Exception):
    pass


class PendingCalls:
    """Tokens are ``<node id>/<random>``, so a reply from any node finds its way back here."""

    def __init__(self):
        self._waiting = {}
        self._calls = {}  # token -> (message id, row id, message type), once the message is committed
        self.node_id = None

    def __len__(self):
        return len(self._waiting)

    def open(self, keyed=False):
        """Register a caller before its message is committed; returns the token to store with it (a keyed
        call's token says so: its row server stores the reply with the idempotency key)."""
        token = f"{self.node_id}/{uuid.uuid4().hex}" + (KEYED_SUFFIX if keyed else "")
        self._waiting[token] = AsyncResult()
        return token

    def wait(self, token, message_id, timeout_ms, row_id=None, message_type=None):
        """The reply, or CallTimeout after timeout_ms (or at once when the node stops waiting)."""
        if row_id is not None:
            self._calls[token] = (message_id, row_id, message_type)
        try:
            return self._waiting[token].get(timeout=timeout_ms / 1000.0)
        except gevent.Timeout:
            raise CallTimeout(message_id, timeout_ms) from None
        except _GivenUp as given_up:
            raise CallTimeout(message_id, timeout_ms, str(given_up)) from None
        finally:
            self._waiting.pop(token, None)
            self._calls.pop(token, None)

    def waiting_calls(self):
        """(token, message id, row id, message type) of every call waiting for its reply."""
        return [(token, *call) for token, call in list(self._calls.items()) if token in self._waiting]

    def give_up_all(self, why):
        """Stop waiting for every reply (the node is stopping): each caller gets its CallTimeout now,
        saying ``why``. Their messages are committed and stay queued: a timeout, not a refusal."""
        for result in list(self._waiting.values()):
            if not result.ready():
                result.set_exception(_GivenUp(why))

    def cancel(self, token):
        self._waiting.pop(token, None)
        self._calls.pop(token, None)

    def reply(self, token, reply):
        """Hand a reply to its caller; False when no caller waits for it any more."""
        result = self._waiting.get(token)
        if result is None:
            return False
        result.set(reply)
        return True
