"""greenrow started the README's way for a benchmark phase, and stopped gracefully (or killed) after it.

``gunicorn -c config/gunicorn.conf.py wsgi:app`` from the repository root, in its own session, with
DATABASE_URL, HOST=127.0.0.1 and PORT (a free port) set and every other setting at its default (any
GREENROW_*, WORKERS or LOG_LEVEL in the caller's environment is dropped). Output goes to a log file.
"""
import os
import signal
import subprocess
import sys
import time
import urllib.error
from contextlib import contextmanager
from pathlib import Path

import psutil

from bench.pg import free_port
from bench.sampler import http_json

REPO = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 45  # gunicorn's graceful_timeout is 30 s
SETTINGS_DROPPED = ("WORKERS", "LOG_LEVEL", "HOST", "PORT", "DATABASE_URL", "GREENROW_ACCESS_LOG")


class GreenrowService:
    def __init__(self, database_url, log_path, settings=None):
        """``settings``: environment variables to set on top (the bench's phases set none: defaults)."""
        self.database_url = database_url
        self.log_path = Path(log_path)
        self.settings = dict(settings or {})
        self.process = None
        self.port = None
        self.stop_s = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GREENROW_") and k not in SETTINGS_DROPPED}
        self.port = free_port()
        env.update(DATABASE_URL=self.database_url, HOST="127.0.0.1", PORT=str(self.port), PYTHONUNBUFFERED="1")
        env.update(self.settings)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([str(GUNICORN), "-c", "config/gunicorn.conf.py", "wsgi:app"], cwd=REPO,
                                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"greenrow exited with {self.process.returncode} at start; see {self.log_path}")
            try:
                if http_json(self.base_url + "/readyz", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"greenrow not ready within {READY_TIMEOUT_S} s; see {self.log_path}")

    def master(self):
        return psutil.Process(self.process.pid)

    def workers(self):
        """The gunicorn workers (one node each): the master's children."""
        return self.master().children()

    def wait_nodes(self, timeout_s=20):
        """Wait (bounded) until every worker's node runs and the shard leases are spread evenly; the nodes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            expected = len(self.workers())
            nodes = self._nodes()
            shards = [node.get("shards", 0) for node in nodes or ()]
            if nodes and len(nodes) == expected and all(shards) and max(shards) - min(shards) <= 1:
                return nodes
            time.sleep(0.2)
        return self.get("/nodes")[1]["nodes"]

    def _nodes(self):
        """GET /nodes, or None from a worker whose node is still starting (it answers 503 until it runs)."""
        try:
            return self.get("/nodes")[1]["nodes"]
        except urllib.error.HTTPError as exc:
            if exc.code == 503:
                return None
            raise

    def get(self, path, timeout=10.0):
        return http_json(self.base_url + path, timeout=timeout)

    def post(self, path, body, timeout=30.0):
        return http_json(self.base_url + path, timeout=timeout, body=body)

    def stop(self):
        """SIGTERM the master (a graceful stop) and wait; SIGKILL the whole group past the deadline."""
        if self.process is None or self.process.poll() is not None:
            return
        started = time.monotonic()
        try:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(STOP_TIMEOUT_S)
            self.stop_s = round(time.monotonic() - started, 3)
        except subprocess.TimeoutExpired:
            self.stop_s = None
        finally:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # also any worker left behind
            except ProcessLookupError:
                pass
            self.process.wait(10)


@contextmanager
def one_worker_service(pg, log_name, database="greenrow"):
    """greenrow with one worker (WORKERS=1) on a fresh `database` of the bench's PostgreSQL, up and
    with its node registered; stopped on the way out. Logs to var/bench-logs/<log_name>."""
    pg.recreate_database(database)
    service = GreenrowService(pg.url(database), REPO / "var" / "bench-logs" / log_name, settings={"WORKERS": "1"})
    service.start()
    try:
        service.wait_nodes()
        yield service
    finally:
        service.stop()
