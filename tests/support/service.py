"""Run the real service (gunicorn with the gevent worker) in a subprocess, as `make run` does."""
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import requests

from tests.support.http import HttpClient
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"Listening at: http://[\d.]+:(\d+)")
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"]


class ServiceProcess(HttpClient):
    """One gunicorn master with its workers, bound to a free loopback port, logging to a file."""

    def __init__(self, database_url, log_path, workers=1, env=None, command=None):
        self.database_url = database_url
        self.log_path = Path(log_path)
        self.workers = workers
        self.extra_env = dict(env or {})
        self.command = command or GUNICORN
        self.process = None
        self.port = None
        HttpClient.__init__(self)

    # --- lifecycle ---
    def start(self, timeout=30.0, wait_ready=True):
        env = dict(os.environ)
        env.update(DATABASE_URL=self.database_url, HOST="127.0.0.1", PORT="0", WORKERS=str(self.workers),
                   PYTHONUNBUFFERED="1", GREENROW_FAULT_INJECTION="1")  # tests crash row servers on purpose
        env.update(self.extra_env)
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command, cwd=REPO, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.port = int(wait_until(self._listening_port, timeout, message=self._explain("never listened")))
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def _listening_port(self):
        if self.process.poll() is not None:
            raise AssertionError(self._explain(f"exited with {self.process.returncode}"))
        match = LISTENING.search(self.log())
        return match and match.group(1)

    def wait_ready(self, timeout=30.0):
        def ready():
            try:
                return self.http.get(self.url("/readyz"), timeout=2).status_code == 200
            except requests.RequestException:
                return False
        wait_until(ready, timeout, interval=0.1, message=self._explain("never became ready"))

    def stop(self, timeout=30.0):
        """SIGTERM the master (graceful) and wait for the whole group to end."""
        if self.process is None or self.process.poll() is not None:
            return self.process and self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(self._explain(f"did not stop within {timeout} s after SIGTERM"))

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def close(self):
        self.http.close()  # idle keep-alive connections would hold up gunicorn's graceful stop
        try:
            self.stop()
        finally:
            self.kill()
            if getattr(self, "_log", None):
                self._log.close()

    # --- workers ---
    def worker_pids(self):
        return sorted(child.pid for child in psutil.Process(self.process.pid).children())

    def kill_worker(self, pid=None):
        """SIGKILL one worker (gunicorn starts a new one); returns the killed pid."""
        pid = pid or self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: pid not in self.worker_pids(), 10, message=f"worker {pid} did not die")
        return pid

    # --- HTTP ---
    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


    # --- diagnostics ---
    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _explain(self, what):
        return f"service {what}; last log lines:\n" + "\n".join(self.log().splitlines()[-40:])


def start_run(service, **params):
    response = service.post("/runs", json=params)
    assert response.status_code == 201, response.text
    return response.json()


def wait_for_run(service, run_id, status="done", timeout=60.0):
    def finished():
        run = service.json(f"/runs/{run_id}")
        return run if run["status"] == status else None
    return wait_until(finished, timeout, interval=0.1, message=f"run {run_id} not {status} within {timeout} s")
