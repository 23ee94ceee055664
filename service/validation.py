"""Reading what a request carries: path ids, query parameters and JSON bodies.

Every check raises ApiError with a stable code, so no bad input reaches the node. The tables
here (RUN_FIELDS, MESSAGE_FIELDS, QUERY_PARAMS) are also what service/openapi.py documents,
so the document cannot drift from what is enforced. A route names the query parameters it takes
with @takes_query; any other parameter is refused (unknown_parameter) before the route runs, as an
unknown body field is.
"""
import json
import re
from dataclasses import dataclass

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import BaseConverter, ValidationError

from greenlets.rows.messages import TYPES as MESSAGE_TYPES
from service.errors import ApiError

MAX_ID = 2**63 - 1  # PostgreSQL bigint
MAX_BODY_BYTES = 64 * 1024
JSON_MIMETYPE = "application/json"
_DIGITS = re.compile(r"[0-9]{1,10}")  # not int(): it also takes "1_000", " 7", "+7" and non-ASCII digits


class IdConverter(BaseConverter):
    """``<id:run_id>``: a decimal id from 1 to 2**63-1.

    Anything else does not match the route (404 not_found), so an id past bigint never reaches
    PostgreSQL, and a 25-digit number never costs more than the regex.
    """

    regex = r"[0-9]{1,19}"
    part_isolating = True

    def to_python(self, value):
        ident = int(value)
        if not 1 <= ident <= MAX_ID:
            raise ValidationError()
        return ident

    def to_url(self, value):
        return str(int(value))


@dataclass(frozen=True)
class Int:
    """An integer from low to high; a default of None means the field is required."""

    low: int
    high: int
    default: int | None = None

    @property
    def required(self):
        return self.default is None

    def rule(self, name):
        return f"{name} must be an integer from {self.low} to {self.high}"

    def check(self, name, value):
        """A JSON value: an integer in range. A bool is not one; 5.0 is 5 (JSON Schema's integer, as
        /openapi.json says: a number with no fractional part), 5.5 is not."""
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is not int or not self.low <= value <= self.high:
            raise ApiError(400, "invalid_field", self.rule(name))
        return value

    def parse(self, name, text):
        """A query-string value: ASCII digits, in range."""
        if not _DIGITS.fullmatch(text) or not self.low <= int(text) <= self.high:
            raise ApiError(400, "invalid_parameter", self.rule(name))
        return int(text)


@dataclass(frozen=True)
class Flag:
    """A boolean query parameter spelled true, false, 1 or 0."""

    default: bool = False
    SPELLINGS = {"true": True, "false": False, "1": True, "0": False}

    def parse(self, name, text):
        try:
            return self.SPELLINGS[text.lower()]
        except KeyError:
            raise ApiError(400, "invalid_parameter", f"{name} must be true, false, 1 or 0") from None


RUN_FIELDS = {
    "rows": Int(1, 1_000_000),
    "start_value": Int(1, 1_000_000, 3),
    "step": Int(1, 1_000_000, 1),
    "tick_ms": Int(10, 3_600_000, 1000),
    "scan_ms": Int(10, 3_600_000, 2000),
    "max_concurrency": Int(1, 1_000_000, 10_000),
}

# Fields each message type takes besides "type"; the type list itself is the runtime's.
_MESSAGE_BODIES = {
    "set": {"value": Int(0, 1_000_000_000)},
    "incr": {"by": Int(-1_000_000_000, 1_000_000_000)},
    # 1: the server raises while applying it, before it commits: it stays first in the inbox and crashes
    # every attempt (a poison message, for the dead letters); 0: applied, then the server raises once.
    "crash": {"poison": Int(0, 1, 0)},
}
MESSAGE_FIELDS = {kind: _MESSAGE_BODIES.get(kind, {}) for kind in MESSAGE_TYPES}

QUERY_PARAMS = {
    "limit": Int(1, 1000, 20),
    "wait": Flag(False),
    "timeout_ms": Int(1, 60_000, 5000),
    "histograms": Flag(False),
}


def takes_query(*names):
    """Declare the query parameters (of QUERY_PARAMS) a route takes; a route without it takes none."""
    for name in names:
        if name not in QUERY_PARAMS:
            raise ValueError(f"{name} is not in QUERY_PARAMS")

    def declare(view):
        view.query_params = names
        return view
    return declare


def query_params_of(view):
    """The query parameters a view function declared with @takes_query (none if it declared nothing)."""
    return getattr(view, "query_params", ())


def refuse_unknown_query_parameters():
    """A before_request hook: 400 unknown_parameter for a query parameter the matched route does not take.

    Runs before the route, so a refused request does nothing (no message is queued). Requests that
    matched no route are left to their 404 or 405.
    """
    if request.url_rule is None:
        return
    allowed = query_params_of(current_app.view_functions.get(request.endpoint))
    for name in request.args:
        if name not in allowed:
            taken = ", ".join(allowed) or "none"
            raise ApiError(400, "unknown_parameter", f"unknown query parameter {_shown(name)}; "
                                                     f"this request takes: {taken}")


def call_options():
    """(wait, timeout_ms) of a message request; timeout_ms is only taken with wait=true."""
    wait = query_param("wait")
    timeout_ms = query_param("timeout_ms")
    if not wait and "timeout_ms" in request.args:
        raise ApiError(400, "invalid_parameter", "timeout_ms is only taken with wait=true (a cast does not wait)")
    return wait, timeout_ms


def query_param(name):
    """The query parameter `name` (one of QUERY_PARAMS), parsed, or its default."""
    spec = QUERY_PARAMS[name]
    values = request.args.getlist(name)
    if not values:
        return spec.default
    if len(values) > 1:
        raise ApiError(400, "invalid_parameter", f"{name} must be given at most once")
    return spec.parse(name, values[0])


def read_fields(fields):
    """The JSON object body checked against fields (name -> Int), with every default filled in."""
    return _check_fields(read_object(), fields)


def read_message():
    """The JSON body as a message: {"type": ..., plus the fields that type requires}."""
    body = read_object()
    if "type" not in body:
        raise ApiError(400, "missing_field", "type is required")
    kind = body["type"]
    expected = ", ".join(MESSAGE_FIELDS)
    if not isinstance(kind, str):
        raise ApiError(400, "invalid_field", f"type must be a string, one of {expected}")
    if kind not in MESSAGE_FIELDS:
        raise ApiError(400, "unknown_message_type", f"unknown message type {_shown(kind)}; expected one of {expected}")
    rest = {name: value for name, value in body.items() if name != "type"}
    return {"type": kind, **_check_fields(rest, MESSAGE_FIELDS[kind], also_allowed=("type",))}


def read_object():
    """The request body as a JSON object; an empty body (with or without Content-Type) is {}."""
    raw = _body_bytes()
    if not raw:
        return {}
    if request.mimetype != JSON_MIMETYPE:
        raise ApiError(415, "unsupported_media_type", f"a request body must be sent as Content-Type: {JSON_MIMETYPE}")
    try:
        body = json.loads(raw, parse_constant=_reject_constant, parse_int=_parse_int)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ApiError(400, "invalid_json", "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "request body must be a JSON object")
    return body


def _body_bytes():
    """The raw body, at most MAX_BODY_BYTES (413 past that, with or without a Content-Length)."""
    if request.content_length is not None:
        return request.get_data(cache=True)  # past MAX_CONTENT_LENGTH this raises 413
    # A chunked body has no length: Werkzeug would silently cut it at the limit, so read one byte more.
    raw = request.environ["wsgi.input"].read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    return raw


def _check_fields(body, fields, also_allowed=()):
    for name in body:
        if name not in fields:
            allowed = ", ".join((*also_allowed, *fields)) or "none"
            raise ApiError(400, "unknown_field", f"unknown field {_shown(name)}; allowed fields: {allowed}")
    values = {}
    for name, spec in fields.items():
        if name in body:
            values[name] = spec.check(name, body[name])
        elif spec.required:
            raise ApiError(400, "missing_field", f"{name} is required")
        else:
            values[name] = spec.default
    return values


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _parse_int(text):
    # Past ~4300 digits int() raises; any integer that long is out of every range here anyway.
    return int(text) if len(text) <= 100 else float("inf")


def _shown(text, limit=64):
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit] + "...'"
