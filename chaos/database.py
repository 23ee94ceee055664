"""The chaos run's own database, migrated, with the audit installed.

Without DATABASE_URL: a PostgreSQL of its own (chaos/controlled_postgres.py) under the run's folder,
which the `stop_postgres` fault stops and starts; after a run with violations it is stopped, not
removed, for a look. With DATABASE_URL: a fresh database on that server (never restarted: the fault
is left out), dropped when the next run starts.
"""
import os
import time

import psycopg2

from chaos import audit
from chaos.controlled_postgres import ControlledPostgres
from greenlets.db.migrate import migrate
from tests.support.database import with_database

PREFIX = "greenrow_chaos_"


class ChaosDatabase:
    """`url` names the database; `postgres` is the server the harness controls (None on DATABASE_URL's)."""

    def __init__(self, workdir):
        admin_url = os.environ.get("DATABASE_URL")
        self.postgres = None
        if admin_url:
            self.url = _fresh_database(admin_url)
        else:
            self.postgres = ControlledPostgres(root=workdir, database=PREFIX + "run")
            self.url = self.postgres.url
        prepare(self.url)

    def describe(self):
        if self.postgres is None:
            return f"database {self.url.rsplit('/', 1)[-1].split('?')[0]} on DATABASE_URL's server"
        return f"a PostgreSQL of its own in {self.postgres.root}"

    def close(self, keep):
        """Stop the harness's server; keep its data folder if asked (a run with violations)."""
        if self.postgres is not None:
            self.postgres.stop() if keep else self.postgres.close()


def prepare(url):
    """Migrate a database (as a node would at start-up) and install the audit in it."""
    conn = psycopg2.connect(url)
    try:
        migrate(conn)
        audit.install(conn)
    finally:
        conn.close()


def _fresh_database(admin_url):
    """Drop the previous chaos runs' databases on this server and create this run's; its URL."""
    conn = psycopg2.connect(admin_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",))
            for (name,) in cur.fetchall():
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            name = f"{PREFIX}{time.strftime('%Y%m%d_%H%M%S')}"
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return with_database(admin_url, name)
