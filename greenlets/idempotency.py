"""Idempotency keys: a POST retried with the same Idempotency-Key is applied once and answered the same.

A key (scoped to the bearer token the request came with) is stored with a fingerprint of its request
and the request's answer **in the transaction of its effect** (the run's insert, the message's insert
into the durable inbox): if the effect commits, so does the key; if it does not, neither does the key,
and a retry does the work. A retry with the key of a committed request gets the stored answer; one
whose request differs (method, path, body, query) is refused (KeyReused). Two requests with one key at
once: the key's primary key makes the second wait for the first, then roll its own effect back and
answer as the first did (store_idempotency_key in queries.sql says why that holds).

A call (``?wait=true``) stores its message id; its reply is stored by the row server when it applies
the message (a keyed call's reply token ends in KEYED_SUFFIX, so unkeyed calls cost nothing more). A
retry of a call whose reply is not stored yet takes the message's reply over and waits for it.

Keys live GREENROW_IDEMPOTENCY_TTL_S (a day); the purger deletes older ones in batches.
"""
import hashlib
import json
import logging
from dataclasses import dataclass

import gevent
from psycopg2.extras import Json

from greenlets.db.pool import UNAVAILABLE
from greenlets.db.queries import run_query

log = logging.getLogger(__name__)

KEYED_SUFFIX = "/k"          # ends the reply token of a call sent with a key: its reply is stored
PURGE_EVERY_S = 60.0
PURGE_BATCH = 5000


class KeyReused(Exception):
    """The key was used for a different request (HTTP 422)."""


class KeyTaken(Exception):
    """Another request with this key committed first: roll this one's effect back and replay its answer."""


@dataclass(frozen=True)
class Key:
    owner: str          # a digest of the bearer token ('' when the API is open)
    key: str
    fingerprint: str    # a digest of the request: method, path, canonical body, query

    @classmethod
    def of(cls, key, token, method, path, body, query):
        owner = hashlib.sha256(token.encode()).hexdigest()[:32] if token else ""
        request = json.dumps([method, path, body, sorted(query.items())], sort_keys=True, separators=(",", ":"))
        return cls(owner, key, hashlib.sha256(request.encode()).hexdigest())


@dataclass(frozen=True)
class Stored:
    """What the first request with a key answered (status None: a call whose reply is still to come)."""
    status: int
    response: dict
    message_id: int


def find(cur, key, ttl_s):
    """(``cur`` a plain cursor: its rows are tuples.) The stored answer of a live key, None when there is none; KeyReused for another request's key."""
    run_query(cur, "find_idempotency_key", {"owner": key.owner, "key": key.key, "ttl_s": ttl_s})
    record = cur.fetchone()
    if record is None:
        return None
    fingerprint, status, response, message_id = record
    if fingerprint != key.fingerprint:
        raise KeyReused("this Idempotency-Key was already used for a different request (another method, path, "
                        f"body or query) in the last {ttl_s} s (GREENROW_IDEMPOTENCY_TTL_S): use a new key")
    return Stored(status, response, message_id)


def store(cur, key, ttl_s, status=None, response=None, message_id=None):
    """Claim the key in the current transaction, with its answer; KeyTaken when a live key exists."""
    run_query(cur, "store_idempotency_key", {
        "owner": key.owner, "key": key.key, "fingerprint": key.fingerprint, "status": status,
        "response": Json(response) if response is not None else None, "message_id": message_id, "ttl_s": ttl_s})
    if cur.fetchone() is None:
        raise KeyTaken()


def store_call_reply(cur, message_id, reply_to, reply):
    """In the transaction applying a keyed call's message: its reply, for a retry of the call."""
    if reply_to and reply_to.endswith(KEYED_SUFFIX):
        run_query(cur, "store_call_reply", {"message_id": message_id,
                                            "response": Json({"message_id": message_id, "reply": reply})})


class KeyPurger:
    """A node service: every PURGE_EVERY_S, deletes the keys older than the TTL, PURGE_BATCH at a time."""

    def __init__(self, node, ttl_s):
        self._node = node
        self._ttl_s = ttl_s

    def __str__(self):
        return f"<KeyPurger ttl={self._ttl_s}s>"

    def run(self):
        while True:
            gevent.sleep(PURGE_EVERY_S)
            self.purge()

    def purge(self):
        """Delete every expired key, a batch per transaction; the number deleted."""
        deleted = 0
        while True:
            try:
                with self._node.pool.statement() as cur:
                    run_query(cur, "purge_idempotency_keys", {"ttl_s": self._ttl_s, "batch": PURGE_BATCH})
                    count = cur.rowcount
            except UNAVAILABLE as exc:
                self._node.database.failed("idempotency key purge", exc)
                return deleted
            deleted += count
            if count < PURGE_BATCH:
                if deleted:
                    log.info("greenrow.idempotency.purged keys=%d", deleted)
                return deleted
            gevent.sleep(0)
