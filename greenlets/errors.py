"""Errors the runtime raises to its callers (the HTTP layer maps them to JSON errors)."""


class RuntimeUnavailable(Exception):
    """The node is not running or the database cannot be reached (HTTP 503)."""


class RowNotFound(Exception):
    """No row with that id (HTTP 404)."""


class RunNotFound(Exception):
    """No run with that id (HTTP 404)."""


class RunNotFinished(Exception):
    """A run still running cannot be deleted (HTTP 409)."""


class CallTimeout(Exception):
    """A call (?wait=true) got no reply in time; the message stays committed and will be applied (HTTP 504)."""

    def __init__(self, message_id, timeout_ms, why=None):
        why = why or f"no reply from row server within {timeout_ms} ms"
        super().__init__(f"{why}; message {message_id} stays queued and will be applied")
        self.message_id = message_id
        self.timeout_ms = timeout_ms


class InboxFull(Exception):
    """The row's durable inbox holds its bound of messages; nothing was stored (HTTP 429)."""


class CallsFull(Exception):
    """This node already waits on GREENROW_MAX_CALLS_IN_FLIGHT calls; the message was not stored (HTTP 429)."""


class RunRefused(Exception):
    """A new run does not fit the cluster's limits: now (HTTP 429, `ever_fits`), or ever (HTTP 422)."""

    def __init__(self, message, ever_fits):
        super().__init__(message)
        self.ever_fits = ever_fits
