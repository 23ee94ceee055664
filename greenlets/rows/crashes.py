"""How a row server's crash is told: one WARNING line (restart) or ERROR line (failed) with its row,
run and exception, and its traceback only the first time this node sees that error (the same type
raised at the same place), or at DEBUG level every time. A thousand servers crashing on one bug make a
thousand lines and one traceback, not a thousand tracebacks.
"""
import logging
import traceback

from greenlets.telemetry.hub_watch import describe

MAX_DISTINCT = 1000  # errors remembered; past that every crash is one line (the tracebacks were shown)


class CrashLog:
    def __init__(self, logger):
        self._log = logger
        self._seen = set()

    def __str__(self):
        return f"<CrashLog distinct={len(self._seen)}>"

    def log(self, level, event, server, details):
        """One line: ``event row=.. run=.. error=<type: message> <details>``, with the traceback when due."""
        error = server.exception
        run_id = server.run_info.id if server.run_info is not None else None
        self._log.log(level, "%s row=%s run=%s error=%s %s", event, server.row_id, run_id, describe(error), details,
                      exc_info=self._traceback_due(error))

    def _traceback_due(self, error):
        tb = getattr(error, "__traceback__", None)
        if tb is None:
            return None
        if self._log.isEnabledFor(logging.DEBUG):
            return error
        last = traceback.extract_tb(tb)[-1]
        key = (type(error).__name__, last.filename, last.lineno)
        if key in self._seen or len(self._seen) >= MAX_DISTINCT:
            return None
        self._seen.add(key)
        return error
