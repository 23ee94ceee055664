"""One JSON shape for every error the API answers.

    {"error": {"code": "invalid_field", "message": "rows must be an integer from 1 to 1000000"}}

Codes are snake_case and never change; the table is in service/openapi.py (ERROR_CODES). A
timeout also carries the top-level "message_id" of the message that stays queued. Any
unexpected exception is logged with its traceback and answered as internal_error, never with
the traceback.
"""
import logging

from flask import jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from greenlets.errors import (CallsFull, CallTimeout, InboxFull, RowNotFound, RunNotFinished, RunNotFound, RunRefused,
                             RuntimeUnavailable)
from greenlets.idempotency import KeyReused

log = logging.getLogger(__name__)

INBOX_FULL_RETRY_AFTER_S = 1  # a row server applies hundreds of messages a second
CALLS_FULL_RETRY_AFTER_S = 1  # calls wait seconds at most, most far less
LIMIT_RETRY_AFTER_S = 10      # runs take seconds to minutes to finish

# werkzeug's HTTPExceptions by status; any other status gets its reason phrase in snake_case.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
}


class ApiError(Exception):
    """An error answered as it is: status, stable code, human message, response headers and optional
    top-level extras."""

    def __init__(self, status, code, message, headers=(), **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.extra = extra


def not_found(kind, ident):
    """The 404 for a run or row that does not exist (kind is "run" or "row")."""
    return ApiError(404, f"{kind}_not_found", f"{kind} {ident} does not exist")


def found(value, kind, ident):
    """value, unless the node answered None for it."""
    if value is None:
        raise not_found(kind, ident)
    return value


def error_response(status, code, message, headers=(), **extra):
    response = jsonify({"error": {"code": code, "message": message}, **extra})
    response.status_code = status
    response.headers.extend(headers)
    return response


def register_error_handlers(app):
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RuntimeUnavailable, _unavailable)
    app.register_error_handler(RowNotFound, lambda exc: _missing(exc, "row"))
    app.register_error_handler(RunNotFound, lambda exc: _missing(exc, "run"))
    app.register_error_handler(CallTimeout, _timeout)
    app.register_error_handler(InboxFull, _inbox_full)
    app.register_error_handler(CallsFull, _calls_full)
    app.register_error_handler(KeyReused, lambda exc: error_response(422, "idempotency_key_reused", str(exc)))
    app.register_error_handler(RunRefused, _run_refused)
    app.register_error_handler(RunNotFinished, lambda exc: error_response(409, "run_not_finished", str(exc)))
    app.register_error_handler(Exception, _unexpected)


def _api_error(exc):
    return error_response(exc.status, exc.code, exc.message, exc.headers, **exc.extra)


def _http_error(exc):
    status = exc.code or 500
    if status == 405 and _has_impossible_id(request.path):
        # Werkzeug checks a rule's method before its converters: DELETE /runs/<id past 2^63-1> matched
        # GET /runs/<id>'s path, then failed DELETE's converter, and came out as a 405. No such resource.
        status = 404
    code = _HTTP_CODES.get(status) or _snake(HTTP_STATUS_CODES.get(status, "http error"))
    dropped = ("content-type",) if status == 405 else ("content-type", "allow")  # keeps Allow on a 405
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() not in dropped]
    return error_response(status, code, _http_message(exc, status), headers)


_MAX_ID = 2**63 - 1  # the largest id (PostgreSQL bigint), as service.validation's IdConverter takes them


def _has_impossible_id(path):
    return any(part.isdigit() and not 1 <= int(part) <= _MAX_ID for part in path.split("/"))


def _http_message(exc, status):
    if status == 404:
        return "no such resource; GET /openapi.json lists the API"
    if status == 405:
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        return f"method {request.method} is not allowed here; allowed: {allowed}"
    if status == 413:
        return f"request body is larger than {request.max_content_length} bytes"
    if status == 500:
        return "internal error; the server log has the details"
    return exc.description or HTTP_STATUS_CODES.get(status, "HTTP error")


def _unavailable(exc):
    return error_response(503, "unavailable", str(exc) or "the node is not available; try again shortly")


def _missing(exc, kind):
    ident = (request.view_args or {}).get(f"{kind}_id")
    if ident is None or str(exc):
        return error_response(404, f"{kind}_not_found", str(exc) or f"{kind} does not exist")
    return _api_error(not_found(kind, ident))


def _timeout(exc):
    return error_response(504, "timeout", str(exc), message_id=exc.message_id)


def _inbox_full(exc):
    return error_response(429, "inbox_full", str(exc), [("Retry-After", str(INBOX_FULL_RETRY_AFTER_S))])


def _calls_full(exc):
    return error_response(429, "too_many_calls", str(exc), [("Retry-After", str(CALLS_FULL_RETRY_AFTER_S))])


def _run_refused(exc):
    if exc.ever_fits:
        return error_response(429, "limit_reached", str(exc), [("Retry-After", str(LIMIT_RETRY_AFTER_S))])
    return error_response(422, "run_too_large", str(exc))


def _unexpected(exc):
    log.exception("unhandled %s in %s %s", type(exc).__name__, request.method, request.path)
    return error_response(500, "internal_error", "internal error; the server log has the details")


def _snake(phrase):
    return "_".join("".join(c if c.isalnum() else " " for c in phrase.lower()).split())
