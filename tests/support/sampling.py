"""Sampling the database while something runs: the most rows of each run that were ever active at once."""
import threading
import time

import psycopg2

ACTIVE_BY_RUN = ("SELECT run_id, count(*) FROM rows WHERE run_id = ANY(%s) AND state = 'active' GROUP BY run_id")


class ActiveRowsSampler:
    """A thread counting each run's active rows, one snapshot at a time, as fast as the database answers
    (a few ms a sample at 10,000 active rows). Use as a context manager; read ``peak`` and ``samples``."""

    def __init__(self, database_url, run_ids):
        self._url = database_url
        self._run_ids = list(run_ids)
        self.peak = dict.fromkeys(self._run_ids, 0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="active-rows-sampler", daemon=True)
        self.error = None

    def add_run(self, run_id):
        self._run_ids = self._run_ids + [run_id]
        self.peak.setdefault(run_id, 0)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        if self.error is not None and exc[0] is None:
            raise AssertionError(f"the sampler failed: {self.error!r}")

    def _sample(self):
        try:
            conn = psycopg2.connect(self._url)
            conn.autocommit = True  # each count its own snapshot
            with conn, conn.cursor() as cur:
                while not self._stop.is_set():
                    cur.execute(ACTIVE_BY_RUN, (self._run_ids,))
                    for run_id, active in cur.fetchall():
                        if active > self.peak[run_id]:
                            self.peak[run_id] = active
                    self.samples += 1
                    time.sleep(0.002)
            conn.close()
        except Exception as exc:  # reported by __exit__
            self.error = exc
