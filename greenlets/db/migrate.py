"""Apply the numbered SQL files in migrations/ once each, under an advisory lock."""
import logging
from pathlib import Path

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x67726E72  # "grnr": one advisory lock shared by every node that migrates


def pending_files(applied):
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name not in applied:
            yield path


def migrate(conn):
    """Bring the schema up to date; safe to call from every node at once."""
    with conn:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS greenrow_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur.execute("SELECT name FROM greenrow_migrations")
            applied = {name for (name,) in cur.fetchall()}
            for path in pending_files(applied):
                log.info("applying migration %s", path.name)
                cur.execute(path.read_text())
                cur.execute("INSERT INTO greenrow_migrations (name) VALUES (%s)", (path.name,))
