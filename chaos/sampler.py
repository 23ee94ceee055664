"""max_concurrency, sampled: a thread counting each running run's active rows every few milliseconds.

Each sample is one statement, so its counts come from one snapshot: a breach it sees was real at
that instant. A database outage (a fault) only pauses the sampling; it reconnects and goes on.
"""
import threading
import time

import psycopg2

ACTIVE_BY_RUN = """
SELECT run.id, run.max_concurrency, count(r.id)
  FROM runs run LEFT JOIN rows r ON r.run_id = run.id AND r.state = 'active'
 WHERE run.status = 'running'
 GROUP BY run.id, run.max_concurrency
"""
RECONNECT_S = 0.2


class ConcurrencySampler:
    def __init__(self, database_url, interval_ms=5):
        self.database_url = database_url
        self.interval_s = interval_ms / 1000.0
        self.samples = 0
        self.peak = {}        # run id -> (most active rows seen, its max_concurrency)
        self.breaches = []    # (wall time, run id, active rows, max_concurrency)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, name="chaos-sampler", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(10)

    def _sample_until_stopped(self):
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = psycopg2.connect(self.database_url, application_name="chaos sampler", connect_timeout=2)
                    conn.autocommit = True
                self._sample(conn)
                self._stop.wait(self.interval_s)
            except psycopg2.Error:
                conn = _close(conn)
                self._stop.wait(RECONNECT_S)
        _close(conn)

    def _sample(self, conn):
        with conn.cursor() as cur:
            cur.execute(ACTIVE_BY_RUN)
            counts = cur.fetchall()
        at = time.time()
        self.samples += 1
        for run_id, cap, active in counts:
            if active > self.peak.get(run_id, (-1, cap))[0]:
                self.peak[run_id] = (active, cap)
            if active > cap:
                self.breaches.append((at, run_id, active, cap))


def _close(conn):
    if conn is not None:
        try:
            conn.close()
        except psycopg2.Error:
            pass
    return None
