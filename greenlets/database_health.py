"""Whether the node can reach PostgreSQL, told in a few log lines rather than one per failed operation.

Every part of the node that meets a database error it will retry (a tick batch, a message apply, a
lease round, a monitor's claim) reports it here; the first one of an outage logs a warning, the rest
are only counted, and the first success afterwards logs how long it lasted. A database outage is not a
crash of anything: no row server is restarted or counted against its restart limit because of one.
"""
import logging
import time

log = logging.getLogger(__name__)


def one_line(error):
    """A database error's message on one line (libpq's span several), for logs and 503 bodies."""
    return " ".join(str(error).split()) or type(error).__name__


class DatabaseHealth:
    def __init__(self, telemetry):
        self._telemetry = telemetry
        self.down_since = None  # time.monotonic() of the first failure of the current outage
        self._failures = 0

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

    def succeeded(self):
        """An operation reached the database: an outage in progress is over."""
        if self.down_since is not None:
            lasted = time.monotonic() - self.down_since
            log.warning("greenrow.database.back after=%.1fs failed_operations=%d", lasted, self._failures)
            self.down_since = None
            self._failures = 0
