"""Client traffic during a fault: casts, calls and reads from threads, each recorded with its outcome.

Casts and calls are `incr` messages to the rows of a ledger run (rows that never tick while the test
lasts: their values only add up the messages). One sender owns each row and sends to it one message at
a time, so a row's arrival order is its message ids' order. Each message of a row adds a power of
four no other message of that row adds: the final value says which were applied, and a message applied
twice leaves a bit no message has (4**k + 4**k = 2 * 4**k).

Outcomes:
    accepted   committed: a cast's 202, a call's 200, or a call's 504 `timeout` (its message stays queued)
    refused    the service's 503 `unavailable`: not committed (the same power of four is sent again)
    unknown    no answer, or the load balancer's own 502/503/504: it may or may not have been committed
    ok         a read's 200
    error      anything else (a 500, a 4xx): a test fails on it
"""
import threading
import time
from dataclasses import dataclass

import requests

HOUR_MS = 3_600_000
LEDGER_START_VALUE = 1
MESSAGES_PER_ROW = 15            # 4**0 .. 4**14: their sum stays below 2**31
CALL_EVERY = 3                   # one message in three is a call (?wait=true)
CALL_TIMEOUT_MS = 5000
CLIENT_TIMEOUT_S = 15.0          # longer than a call's own timeout and than any fault a test holds
SENDERS = 4
PACE_S = 0.05                    # each thread's pause between requests: a steady load, not a flood
LOAD_BALANCER_SAYS = "greenrow instance"  # nginx's own 502/503/504 bodies: "no greenrow instance ..."


@dataclass
class Operation:
    kind: str                   # cast | call | read
    path: str
    started: float              # time.time() when sent
    latency_s: float = None
    status: int = None          # None: no answer (connection refused or reset, client timeout)
    code: str = None            # the error code of an error answer, or the exception's name
    outcome: str = "unknown"
    row_id: int = None
    by: int = None
    message_id: int = None

    def __str__(self):
        return (f"{self.kind} {self.path} by={self.by} at {self.started:.3f} -> {self.status} {self.code or ''}"
                f" in {self.latency_s:.3f} s ({self.outcome})")


def classify(op, body):
    """Set op.outcome (and message_id, code) from its answer."""
    error = body.get("error", {}) if isinstance(body, dict) else {}
    op.code = error.get("code") or op.code
    from_load_balancer = LOAD_BALANCER_SAYS in str(error.get("message", ""))
    if op.status is None or (op.status in (502, 503, 504) and from_load_balancer):
        op.outcome = "unknown"
    elif op.status == {"cast": 202, "call": 200, "read": 200}[op.kind]:
        op.outcome = "ok" if op.kind == "read" else "accepted"
    elif op.kind == "call" and op.status == 504 and op.code == "timeout":
        op.outcome = "accepted"
    elif op.status == 503 and op.code == "unavailable":
        op.outcome = "refused"
    else:
        op.outcome = "error"
    if op.outcome == "accepted":
        op.message_id = body["message_id"]


class Traffic:
    """Senders (casts and calls to the ledger rows) and a reader, until stop(); the record is `ops`."""

    def __init__(self, client, ledger_rows, read_paths, senders=SENDERS, pace_s=PACE_S):
        self._client = client            # anything with url(path): a ServiceProcess, a Cluster
        self._read_paths = list(read_paths)
        self._pace_s = pace_s
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.ops = []
        rows = list(ledger_rows)
        self._threads = [threading.Thread(target=self._send, args=(rows[n::senders],), daemon=True,
                                          name=f"sender-{n}") for n in range(senders)]
        self._threads.append(threading.Thread(target=self._read, daemon=True, name="reader"))

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self._stopping.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT_S + 5)
            assert not thread.is_alive(), f"{thread.name} still waits for an answer"
        return self.ops

    def count(self, outcome):
        with self._lock:
            return sum(op.outcome == outcome for op in self.ops)

    # --- threads ---
    def _send(self, rows):
        sent = dict.fromkeys(rows, 0)  # row -> messages committed or maybe committed (their powers are used)
        with requests.Session() as http:
            while not self._stopping.is_set() and any(n < MESSAGES_PER_ROW for n in sent.values()):
                for row_id in rows:
                    if self._stopping.is_set():
                        return
                    if sent[row_id] >= MESSAGES_PER_ROW:
                        continue
                    op = self._message(http, row_id, sent[row_id])
                    if op.outcome != "refused":
                        sent[row_id] += 1
                    self._stopping.wait(self._pace_s)

    def _message(self, http, row_id, number):
        call = (number + row_id) % CALL_EVERY == 0  # rows take turns: calls from the first round on
        path = f"/rows/{row_id}/messages" + (f"?wait=true&timeout_ms={CALL_TIMEOUT_MS}" if call else "")
        op = Operation("call" if call else "cast", path, time.time(), row_id=row_id, by=4 ** number)
        return self._request(http, op, lambda url: http.post(url, json={"type": "incr", "by": op.by},
                                                            timeout=CLIENT_TIMEOUT_S))

    def _read(self):
        with requests.Session() as http:
            n = 0
            while not self._stopping.is_set():
                path = self._read_paths[n % len(self._read_paths)]
                self._request(http, Operation("read", path, time.time()),
                              lambda url: http.get(url, timeout=CLIENT_TIMEOUT_S))
                n += 1
                self._stopping.wait(self._pace_s)

    def _request(self, http, op, send):
        began = time.monotonic()
        body = None
        try:
            response = send(self._client.url(op.path))
            op.status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = None
        except requests.RequestException as exc:
            op.code = type(exc).__name__
            http.close()  # a dead keep-alive connection is not reused
        op.latency_s = time.monotonic() - began
        classify(op, body)
        with self._lock:
            self.ops.append(op)
        return op
