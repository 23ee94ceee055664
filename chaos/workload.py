"""What the cluster works on during a chaos run: a ledger run for the casts, and ticking runs back to back."""
import threading

import requests

from tests.support.wait import wait_until

RETRY_S = 0.5           # between attempts to create a run while a fault refuses it
STATUS_POLL_S = 0.2


def create_run(cluster, timeout=60.0, **params):
    """POST /runs through the load balancer, retried while a fault keeps it from answering 201; the run.

    A 502 or 504 (or no answer) may hide a run that was created: it ticks unchecked, which only adds load.
    """
    def created():
        try:
            response = cluster.post("/runs", json=params)
        except requests.RequestException:
            return None
        if response.status_code in (502, 503, 504):
            return None
        assert response.status_code == 201, (response.status_code, response.text)
        return response.json()
    return wait_until(created, timeout, interval=RETRY_S, message=f"no run created within {timeout} s")


LEDGER_START = 1  # a run's smallest start_value; casts add powers of two from 2 up, so it stays apart
LEDGER_TICK_MS = 3_600_000  # the longest tick: stopped long before its first one


def create_ledger(cluster, rows):
    """Rows whose values only add up the casts: a run stopped before its first tick. (first id, rows)."""
    run = create_run(cluster, rows=rows, start_value=LEDGER_START, tick_ms=LEDGER_TICK_MS, max_concurrency=rows)
    response = cluster.post(f"/runs/{run['id']}/stop")
    assert response.status_code == 200, response.text
    return run["first_row_id"], rows


class TickingRuns:
    """Creates one ticking run after another until stop(): the load the faults hit."""

    def __init__(self, cluster, rows, max_concurrency, start_value, tick_ms):
        self.cluster = cluster
        self.params = {"rows": rows, "max_concurrency": max_concurrency, "start_value": start_value,
                       "tick_ms": tick_ms}
        self.run_ids = []
        self.current = None             # (first row id, last row id) of the run ticking now
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._create_runs, name="chaos-runs", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self, timeout=120.0):
        """No new run; returns once the thread is done (the last run's own end is the checker's)."""
        self._stop.set()
        self._thread.join(timeout)

    def ticking_rows(self):
        return self.current

    def _create_runs(self):
        try:
            while not self._stop.is_set():
                run = create_run(self.cluster, timeout=120.0, **self.params)
                self.run_ids.append(run["id"])
                self.current = (run["first_row_id"], run["last_row_id"])
                while not self._stop.is_set() and not self._finished(run["id"]):
                    self._stop.wait(STATUS_POLL_S)
        except Exception as exc:  # the checker reports it; a fault may keep the API away for long
            self.error = exc

    def _finished(self, run_id):
        try:
            run = self.cluster.answer(f"/runs/{run_id}")
        except (AssertionError, ValueError, requests.RequestException):
            return False
        return run is not None and run["status"] != "running"
