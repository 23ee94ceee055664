"""What every fault test runs around its fault: a ticking run, a ledger run and the chaos history's clients.

    scenario = FaultScenario(service, db, instances=[service], rows=2000, ...).start()
    scenario.wait_for_progress(0.3)      # a third of the ticks committed, casts and calls accepted
    fault = ... inject it (chaos/faults.py) ...
    scenario.finish([fault])             # the run done, traffic stopped, inboxes empty, then every check

The ticking run is the work the fault must not disturb. The ledger run's rows (one per shard, so every
node owns some) never tick while the test lasts: the clients (chaos/history.py) send them casts and calls
that each add a distinct power of two, ping the ticking rows and read ledger rows, recording every answer.
"""
import time
from contextlib import closing

import psycopg2

from chaos import audit
from chaos.history import History, LedgerBits
from chaos.workload import LEDGER_START, LEDGER_TICK_MS
from tests.faults import checks
from tests.support.cluster import wait_for_inbox_empty
from tests.support.wait import wait_until

LEDGER_ROWS = 256                # GREENROW_SHARDS' default: ids in a row cover every shard
CLIENTS = 4
OPS_PER_S = 60.0                 # a steady load beside the run on 2 cores, not a flood
START_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 90.0             # the fault, the failover and the rest of the run, on a busy machine
INBOX_TIMEOUT_S = 30.0
ACCEPTED_BEFORE_FAULT = 20       # messages committed before the fault: the traffic is really flowing


class FaultScenario:
    def __init__(self, client, db, instances, rows=2000, start_value=10, tick_ms=200, max_concurrency=500,
                 run_timeout_s=RUN_TIMEOUT_S):
        self.client = client         # where requests go: a ServiceProcess, or a Cluster (nginx)
        self.db = db
        self.instances = list(instances)  # whose logs are read (anything with log())
        self.params = {"rows": rows, "start_value": start_value, "step": 1, "tick_ms": tick_ms,
                       "max_concurrency": max_concurrency}
        self.run_timeout_s = run_timeout_s
        self.run = self.ledger = self.history = None

    def start(self):
        with closing(psycopg2.connect(self.db.url)) as conn:
            audit.install(conn)
        self.ledger = self.start_run(rows=LEDGER_ROWS, start_value=LEDGER_START, tick_ms=LEDGER_TICK_MS,
                                     max_concurrency=LEDGER_ROWS)
        self.run = self.start_run(**self.params)
        span = (self.run["first_row_id"], self.run["last_row_id"])
        self.history = History(self.client.url(""), LedgerBits(self.ledger["first_row_id"], LEDGER_ROWS),
                               lambda: span, seed=self.run["id"], clients=CLIENTS, ops_per_s=OPS_PER_S,
                               headers=self.client.auth_headers()).start()
        return self

    @property
    def ledger_rows(self):
        """The rows the clients send casts and calls to."""
        return range(self.ledger["first_row_id"], self.ledger["last_row_id"] + 1)

    @property
    def total_ticks(self):
        return self.params["rows"] * self.params["start_value"]

    def ticks_so_far(self):
        return self.db.fetch_value("SELECT coalesce(sum(ticks), 0) FROM rows WHERE run_id = %s", (self.run["id"],))

    def accepted_so_far(self):
        return sum(op.outcome == "accepted" for op in self.history.snapshot())

    def wait_for_progress(self, fraction):
        """Wait until `fraction` of the run's ticks are committed and the clients' messages go through."""
        def progressed():
            return (self.ticks_so_far() >= fraction * self.total_ticks
                    and self.accepted_so_far() >= ACCEPTED_BEFORE_FAULT)
        wait_until(progressed, START_TIMEOUT_S, interval=0.05,
                   message=self._explain(f"the run never reached {fraction:.0%} of its ticks with messages"
                                         f" accepted (ticks {self.ticks_so_far()}/{self.total_ticks},"
                                         f" accepted {self.accepted_so_far()})"))

    def finish(self, faults, tracebacks_allowed=checks.TRACEBACKS_PER_FAULT, also=()):
        """After the faults: the run must finish exactly, every accepted message be applied once in order,
        no request get an internal error, and the logs hold only a few tracebacks; `also` are the test's own
        checks, given the clients' operations. Every check runs; one failure lists all that failed."""
        failures = []
        _check(failures, self.wait_for_run_done)
        self.history.stop()
        ops = self.history.snapshot()
        _check(failures, wait_for_inbox_empty, self.db, self.ledger_rows, timeout=INBOX_TIMEOUT_S)
        for check, *args in [(checks.assert_run_exact, self.db, self.run),
                             (checks.assert_ticks_audited, self.db, self.run),
                             (checks.assert_no_restarts, self.db, [self.run["id"], self.ledger["id"]]),
                             (checks.assert_messages_exact, self.db, ops, self.ledger_rows),
                             (checks.assert_http_as_promised, ops, faults),
                             (checks.assert_few_tracebacks, self.instances, tracebacks_allowed),
                             *((check, ops) for check in also)]:
            _check(failures, check, *args)
        assert not failures, f"{len(failures)} checks failed after the fault:\n\n" + "\n\n".join(failures)
        return ops

    def wait_for_run_done(self):
        """Read from the database, not through the service: the fault may still hold some of its nodes."""
        def done():
            return self.db.fetch_value("SELECT status = 'done' FROM runs WHERE id = %s", (self.run["id"],))
        began = time.monotonic()
        wait_until(done, self.run_timeout_s, interval=0.1,
                   message=self._explain(f"run {self.run['id']} was not done {self.run_timeout_s} s after"
                                         f" the fault"))
        return time.monotonic() - began

    def start_run(self, **params):
        response = self.client.post("/runs", json=params)
        assert response.status_code == 201, response.text
        return response.json()

    # --- internals ---
    def _explain(self, what):
        states = self.db.fetch_all("SELECT state, count(*), sum(restarts) FROM rows WHERE run_id = %s"
                                   " GROUP BY state ORDER BY state", (self.run["id"],))
        stuck = self.db.fetch_all("SELECT id, shard, value, ticks, restarts, last_tick_at FROM rows"
                                  " WHERE run_id = %s AND state IN ('pending', 'active') ORDER BY id LIMIT 5",
                                  (self.run["id"],))
        lines = [what, f"rows by state (state, rows, restarts): {states}",
                 f"some rows not done (id, shard, value, ticks, restarts, last tick): {stuck}"]
        for instance in self.instances:
            lines.append(f"--- {getattr(instance, 'name', 'service')} log, last lines:")
            lines += instance.log().splitlines()[-15:]
        return "\n".join(lines)


def _check(failures, check, *args, **kwargs):
    try:
        check(*args, **kwargs)
    except AssertionError as exc:
        failures.append(f"[{check.__name__}] {exc}")
