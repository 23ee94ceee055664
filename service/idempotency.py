"""The Idempotency-Key header of POST /runs and POST /rows/<id>/messages (greenlets/idempotency.py does the work).

A key is 1 to 255 printable ASCII characters (a UUID is the usual choice). The request it names is its
method, path, validated body (defaults filled in: {"rows": 10} and {"rows": 10, "start_value": 3} are
one request) and, for a message, whether it is a call (`wait`; not `timeout_ms`, which says how long to
wait, not what to do: a retry may wait longer); keys are scoped to the bearer token they came with. A replayed answer says so
in its Idempotent-Replayed header.
"""
import re

from flask import request

from greenlets.idempotency import Key
from service.errors import ApiError

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_VALID = re.compile(r"[\x21-\x7e]{1,255}")


def request_key(payload, query=None):
    """The request's idempotency.Key, or None without the header; 400 invalid_idempotency_key for a bad one."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    if not _VALID.fullmatch(raw):
        raise ApiError(400, "invalid_idempotency_key",
                       f"{HEADER} must be 1 to 255 printable ASCII characters without spaces (a UUID, say)")
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return Key.of(raw, token.strip() if scheme.lower() == "bearer" else "", request.method, request.path, payload,
                  query or {})


def answer(body, status, replayed, headers=None):
    """A route's answer, marked when it is the stored answer of an earlier request with the same key."""
    headers = dict(headers or {})
    if replayed:
        headers[REPLAYED] = "true"
    return body, status, headers
