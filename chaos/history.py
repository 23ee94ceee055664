"""The history: concurrent clients send casts, calls and reads through the load balancer and record each.

Casts and calls are `incr` messages to the rows of a ledger run (chaos/workload.py: its rows never
tick, their values only add up the casts). Each one adds a distinct power of two to its row, at most
LEDGER_BITS per row, so a row's final value says exactly which of its casts were applied. Pings to
the ticking run's rows put messages in the inboxes of rows that are moving between nodes, for the
order and exactly-once checks of the message audit. Reads look at ledger rows.

Every operation is recorded with its outcome:
    accepted   the service committed it (202, 200, or a call's 504 timeout, whose message stays queued)
    refused    503 `unavailable`: not committed
    unknown    no answer (a connection error, a client timeout, the load balancer's 502/504): maybe
    error      any other answer (4xx, 500): the checker reports it
"""
import itertools
import random
import threading
import time
from dataclasses import dataclass

import requests

LEDGER_BITS = 30            # casts add 2**1 .. 2**30: with the ledger's start value 1, 2**31 - 1 fits rows.value
CALL_TIMEOUT_MS = 30_000    # what a call asks the service to wait for its reply
CLIENT_TIMEOUT_S = 45.0     # past this the client gives up: outcome unknown
OP_WEIGHTS = {"cast": 55, "call": 15, "ping": 20, "read": 10}


@dataclass
class Operation:
    kind: str                  # cast | call | ping | read
    row_id: int
    incr: int = None           # the power of two a cast or call adds
    start: float = 0.0         # wall clock (time.time(): the database's clock on this machine)
    end: float = 0.0
    status: int = None         # HTTP status, None without an answer
    code: str = None           # the error code of an error answer, or the exception's name
    outcome: str = "unknown"
    message_id: int = None
    value: int = None          # the row's value a read or a call's reply showed


def classify(kind, status, body):
    """(outcome, error code) of an answer; status None means no answer at all."""
    if status is None:
        return "unknown", None
    code = (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None
    ok = {"cast": 202, "ping": 202, "call": 200, "read": 200}[kind]
    if status == ok:
        return "accepted", None
    if status == 503 and code == "unavailable":
        return "refused", code
    if status in (502, 504) and code == "unavailable":  # the load balancer lost the instance mid-request
        return "unknown", code
    if status == 504 and code == "timeout" and kind == "call":  # committed, the reply did not come in time
        return "accepted", code
    return "error", code


class LedgerBits:
    """Hands out (row, power of two) pairs: every cast a value no other cast of its row has."""

    def __init__(self, first_row_id, rows):
        self.first_row_id = first_row_id
        self.rows = rows
        self._next = itertools.count()
        self._lock = threading.Lock()

    def take(self):
        with self._lock:
            k = next(self._next)
        if k >= self.rows * LEDGER_BITS:
            return None
        return self.first_row_id + k % self.rows, 2 << (k // self.rows)


class History:
    """Client threads recording operations until stop(); `ticking_rows()` gives the (first, last) row ids to ping."""

    def __init__(self, base_url, ledger, ticking_rows, seed, clients=8, ops_per_s=100.0, headers=None):
        self.base_url = base_url
        self.headers = dict(headers or {})  # e.g. the Authorization a token-protected service wants
        self.ledger = ledger
        self.ticking_rows = ticking_rows
        self.operations = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._interval = clients / ops_per_s
        self._threads = [threading.Thread(target=self._client, args=(random.Random(f"{seed}/{i}"),),
                                          name=f"chaos-client-{i}", daemon=True) for i in range(clients)]

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT_S + 5)

    def snapshot(self):
        with self._lock:
            return list(self.operations)

    def _client(self, rng):
        session = requests.Session()
        session.headers.update(self.headers)
        kinds, weights = zip(*OP_WEIGHTS.items())
        while not self._stop.is_set():
            began = time.monotonic()
            op = self._operation(rng.choices(kinds, weights)[0], rng)
            if op is not None:
                self._perform(session, op)
                with self._lock:
                    self.operations.append(op)
            self._stop.wait(max(0.0, self._interval * rng.uniform(0.5, 1.5) - (time.monotonic() - began)))
        session.close()

    def _operation(self, kind, rng):
        if kind in ("cast", "call"):
            taken = self.ledger.take()
            return taken and Operation(kind, taken[0], incr=taken[1])
        if kind == "ping":
            span = self.ticking_rows()
            return span and Operation(kind, rng.randint(*span))
        return Operation(kind, self.ledger.first_row_id + rng.randrange(self.ledger.rows))

    def _perform(self, session, op):
        op.start = time.time()
        try:
            response = self._send(session, op)
            op.status = response.status_code
            body = _json(response)
        except requests.RequestException as exc:
            op.code, body = type(exc).__name__, None
        op.end = time.time()
        op.outcome, code = classify(op.kind, op.status, body)
        op.code = code or op.code
        if isinstance(body, dict):
            op.message_id = body.get("message_id")
            row = body.get("reply") if op.kind == "call" else body
            op.value = row.get("value") if isinstance(row, dict) and op.outcome == "accepted" else None

    def _send(self, session, op):
        url = f"{self.base_url}/rows/{op.row_id}"
        if op.kind == "read":
            return session.get(url, timeout=CLIENT_TIMEOUT_S)
        if op.kind == "ping":
            return session.post(f"{url}/messages", json={"type": "ping"}, timeout=CLIENT_TIMEOUT_S)
        query = f"?wait=true&timeout_ms={CALL_TIMEOUT_MS}" if op.kind == "call" else ""
        return session.post(f"{url}/messages{query}", json={"type": "incr", "by": op.incr}, timeout=CLIENT_TIMEOUT_S)


def _json(response):
    try:
        return response.json()
    except ValueError:
        return None
