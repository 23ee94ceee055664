"""What a database error becomes: its kind for a client (never its text), its text for the log with any
password masked."""
import psycopg2
import psycopg2.errors
import pytest

from greenlets.database_health import one_line, public_reason, redacted
from greenlets.db.pool import PoolTimeout


@pytest.mark.parametrize("text, shown", [
    ('invalid dsn: missing "=" after "postgresql://app:s3cret@db:5432/greenrow"',
     'invalid dsn: missing "=" after "postgresql://app:***@db:5432/greenrow"'),
    ("host=db user=app password=s3cret dbname=x", "host=db user=app password=*** dbname=x"),
    ("password = 'with space' user=app", "password = *** user=app"),
    ("postgresql://app@db/greenrow has no password", "postgresql://app@db/greenrow has no password"),
])
def test_a_password_in_a_logged_error_is_masked(text, shown):
    assert redacted(text) == shown


def test_a_logged_error_is_one_line():
    error = psycopg2.OperationalError('connection to server at "db" failed:\n  Connection refused\n')
    assert one_line(error) == 'connection to server at "db" failed: Connection refused'


@pytest.mark.parametrize("error, reason", [
    (psycopg2.OperationalError('FATAL: database "secret_db" does not exist'), "the database is unreachable"),
    (psycopg2.InterfaceError("connection already closed"), "the database is unreachable"),
    (psycopg2.errors.QueryCanceled("canceling statement due to statement timeout"),
     "the database did not answer in time"),
    (psycopg2.errors.DeadlockDetected("deadlock detected DETAIL: Process 17034 waits for ShareLock"),
     "the request conflicted with another one"),
    (PoolTimeout("no database connection free within 5.0 s"), "no database connection free within 5.0 s"),
])
def test_a_client_is_told_the_kind_of_database_error_and_never_its_text(error, reason):
    assert public_reason(error) == reason
