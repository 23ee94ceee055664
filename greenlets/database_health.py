"""Whether the node can reach PostgreSQL, told in a few log lines rather than one per failed operation.

Every part of the node that meets a database error it will retry (a tick batch, a message apply, a
lease round, a monitor's claim) reports it here; the first one of an outage logs a warning, the rest
are only counted, and the first success afterwards logs how long it lasted. A database outage is not a
crash of anything: no row server is restarted or counted against its restart limit because of one.
"""
import logging
import re
import time

import psycopg2.errors

from greenlets.db.pool import PoolTimeout

log = logging.getLogger(__name__)

# A password in a connection URL (scheme://user:password@host) or in key=value connection parameters:
# libpq repeats the connection string it could not parse in its error message.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_PARAMETER_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_TOO_SLOW = (psycopg2.errors.QueryCanceled, psycopg2.errors.LockNotAvailable)
_CONFLICT = (psycopg2.errors.DeadlockDetected, psycopg2.errors.SerializationFailure)


def one_line(error):
    """A database error's message on one line (libpq's span several), any password in it masked: for logs."""
    return redacted(" ".join(str(error).split()) or type(error).__name__)


def redacted(text):
    """`text` with the password of any connection URL or `password=` parameter replaced by ***."""
    return _PARAMETER_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def public_reason(error):
    """What a client may be told about a database error: its kind, never its text (hosts, users, database
    names and SQL stay in the log)."""
    if isinstance(error, PoolTimeout):
        return str(error)  # greenrow's own words: no connection free within the checkout timeout
    if isinstance(error, _TOO_SLOW):
        return "the database did not answer in time"
    if isinstance(error, _CONFLICT):
        return "the request conflicted with another one"
    return "the database is unreachable"


class DatabaseHealth:
    def __init__(self, telemetry):
        self._telemetry = telemetry
        self.down_since = None  # time.monotonic() of the first failure of the current outage
        self._failures = 0
        self.on_outage = None  # called when an outage begins: the node's pool refuses its waiters

    def __str__(self):
        return f"<DatabaseHealth down={self.down_since is not None}>"

    @property
    def down(self):
        return self.down_since is not None

    def failed(self, where, error):
        """An operation could not reach the database (it will be tried again)."""
        self._telemetry.bump("database_errors")
        self._failures += 1
        if self.down_since is None:
            self.down_since = time.monotonic()
            self._telemetry.bump("database_outages")
            log.warning("greenrow.database.unavailable where=%s error=%s; retrying", where,
                        one_line(error))
            if self.on_outage is not None:
                self.on_outage()

    def succeeded(self):
        """An operation reached the database: an outage in progress is over."""
        if self.down_since is not None:
            lasted = time.monotonic() - self.down_since
            log.warning("greenrow.database.back after=%.1fs failed_operations=%d", lasted, self._failures)
            self.down_since = None
            self._failures = 0
