"""The OpenAPI 3.1 document for the API, built as a dict next to the routes.

Request schemas and parameters are generated from the tables in service/validation.py, so the
document states exactly what is enforced. undocumented_routes(app) lists the routes of an app
that the document misses.
"""
import re

from greenlets.rows.inbox import reply_type
from greenlets.telemetry.recorder import COUNTERS
from service.auth import OPEN_PATHS, OPEN_PREFIX
from service.validation import MAX_ID, MESSAGE_FIELDS, QUERY_PARAMS, RUN_FIELDS, Flag

# Every error code the API answers, with its status.
ERROR_CODES = {
    "bad_request": (400, "the request could not be read"),
    "invalid_json": (400, "the body is not valid JSON"),
    "invalid_body": (400, "the body is not a JSON object"),
    "unknown_field": (400, "the body has a field this request does not take"),
    "missing_field": (400, "a required field is missing"),
    "invalid_field": (400, "a field has the wrong type or is out of range"),
    "unknown_message_type": (400, "the message type is not one the row server handles"),
    "invalid_parameter": (400, "a query parameter is malformed or out of range"),
    "unknown_parameter": (400, "the query string has a parameter this request does not take"),
    "invalid_idempotency_key": (400, "the Idempotency-Key header is not 1 to 255 printable ASCII characters"),
    "fault_injection_disabled": (400, "a crash message, refused unless GREENROW_FAULT_INJECTION=1"),
    "unauthorized": (401, "no bearer token, or one that does not open this endpoint (GREENROW_API_TOKEN)"),
    "not_found": (404, "no such route (this includes ids outside 1..2^63-1)"),
    "run_not_found": (404, "no run with that id"),
    "row_not_found": (404, "no row with that id (or its run is being deleted)"),
    "dead_letter_not_found": (404, "no dead letter with that id (replayed or deleted already?)"),
    "run_not_finished": (409, "DELETE /runs/{run_id}: the run is running; stop it or let it finish first"),
    "method_not_allowed": (405, "the route does not take this method (see the Allow header)"),
    "payload_too_large": (413, "the body is larger than 64 KiB"),
    "unsupported_media_type": (415, "a body was sent without Content-Type: application/json"),
    "run_too_large": (422, "the run alone asks for more rows or ticks per second than the cluster's limits"),
    "idempotency_key_reused": (422, "the Idempotency-Key was used for a different request within GREENROW_IDEMPOTENCY_TTL_S"),
    "limit_reached": (429, "with the running runs, the new run would pass a cluster limit (see Retry-After)"),
    "inbox_full": (429, "the row's inbox holds GREENROW_INBOX_MAX messages; nothing was stored (see Retry-After)"),
    "too_many_calls": (429, "this node waits on GREENROW_MAX_CALLS_IN_FLIGHT calls already; nothing was stored (see Retry-After)"),
    "too_many_streams": (429, "this node serves GREENROW_MAX_EVENT_STREAMS event streams already (see Retry-After)"),
    "internal_error": (500, "an unexpected error; the server log has the details"),
    "unavailable": (503, "the node is not ready or the database cannot be reached; retry later"),
    "timeout": (504, "no reply in timeout_ms; the message stays queued and will be applied"),
}

_RULE_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_IGNORED_METHODS = {"HEAD", "OPTIONS"}


def undocumented_routes(app, document=None):
    """"METHOD /path" for every route of app's url_map missing from the document (HEAD and OPTIONS aside)."""
    paths = (document or DOCUMENT)["paths"]
    missing = []
    for rule in app.url_map.iter_rules():
        path = _RULE_ARGUMENT.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - _IGNORED_METHODS):
            if method.lower() not in paths.get(path, {}):
                missing.append(f"{method} {path}")
    return sorted(missing)


def _ref(kind, name):
    return {"$ref": f"#/components/{kind}/{name}"}


def _int_schema(spec):
    schema = {"type": "integer", "minimum": spec.low, "maximum": spec.high}
    if not spec.required:
        schema["default"] = spec.default
    return schema


def _object(properties, required=None, description=None, closed=True):
    schema = {"type": "object", "properties": properties, "required": list(properties if required is None else required)}
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def _query_parameter(name, description):
    spec = QUERY_PARAMS[name]
    if isinstance(spec, Flag):
        schema = {"type": "string", "enum": list(Flag.SPELLINGS), "default": str(spec.default).lower()}
    else:
        schema = _int_schema(spec)
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "makes a retry safe: a request with the key of one already applied (same method, path, body and "
                   "query, same token, within GREENROW_IDEMPOTENCY_TTL_S) applies nothing and gets that request's "
                   "answer again, with Idempotent-Replayed: true (a call's retry waits for, or returns, the first "
                   "call's reply); the key with a different request is refused (422 idempotency_key_reused)",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
}
_REPLAYED = {"Idempotent-Replayed": {"description": "true when this is the stored answer of an earlier request "
                                                    "with the same Idempotency-Key", "schema": {"const": "true"}}}


def _path_id(name, what):
    return {
        "name": name, "in": "path", "required": True, "description": f"the {what}'s id",
        "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
    }


def _json(schema):
    return {"content": {"application/json": {"schema": schema}}}


def _ok(description, schema, headers=None):
    response = {"description": description, **_json(schema)}
    if headers:
        response["headers"] = headers
    return response


def _error_response(status):
    codes = [f"`{code}` ({text})" for code, (code_status, text) in ERROR_CODES.items() if code_status == status]
    schema = _ref("schemas", "TimeoutError" if status == 504 else "Error")
    response = {"description": "; ".join(codes), **_json(schema)}
    if status == 429:
        response["headers"] = {"Retry-After": {"description": "seconds to wait before sending again",
                                               "schema": {"type": "integer", "minimum": 1}}}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"description": 'Bearer realm="greenrow"',
                                                     "schema": {"type": "string"}}}
    return response


def _errors(*statuses):
    """Error responses of an operation; every operation can answer 400 (unknown_parameter) and 500."""
    return {str(status): _ref("responses", str(status)) for status in sorted({400, *statuses, 500})}


def _message_schemas():
    schemas = {}
    for kind, fields in MESSAGE_FIELDS.items():
        properties = {"type": {"const": kind}, **{name: _int_schema(spec) for name, spec in fields.items()}}
        schemas[f"{kind.capitalize()}Message"] = _object(properties, description=f"a {kind} message")
    return schemas


_TIMESTAMP = {"type": "string", "format": "date-time"}
_NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
_COUNT = {"type": "integer", "minimum": 0}
_MESSAGE_SCHEMAS = _message_schemas()
_REPLY_TYPE = {"type": "string", "enum": [reply_type(kind) for kind in MESSAGE_FIELDS],
               "description": "the message's type (a ping is answered by a pong)"}
_ROW_PROPERTIES = {
    "id": {"type": "integer", "format": "int64"},
    "run_id": {"type": "integer", "format": "int64"},
    "value": {"type": "integer", "minimum": 0},
    "status": {"type": "string", "enum": ["running", "paused", "idle", "done", "failed"]},
    "node": {"type": ["string", "null"], "description": "the node running its row server, if one is live"},
    "inbox": {**_COUNT, "description": "messages queued for the row"},
    "restarts": _COUNT,
    "ticks": _COUNT,
    "last_tick_at": _NULLABLE_TIMESTAMP,
    "paused": {"type": "boolean"},
}

_SCHEMAS = {
    "ErrorDetail": _object({
        "code": {"type": "string", "enum": list(ERROR_CODES), "description": "stable snake_case code"},
        "message": {"type": "string", "description": "a human sentence; may change"},
    }),
    "Error": _object({"error": _ref("schemas", "ErrorDetail")}),
    "TimeoutError": _object({
        "error": _ref("schemas", "ErrorDetail"),
        "message_id": {"type": "integer", "format": "int64", "description": "the message; it stays queued and will be applied"},
    }),
    "Run": _object({
        "id": {"type": "integer", "format": "int64"},
        "status": {"type": "string", "enum": ["running", "done", "stopped", "deleting"],
                   "description": "deleting: DELETE /runs/{run_id} (or retention) marked it; it goes in batches"},
        **{name: {"type": "integer"} for name in RUN_FIELDS},
        "first_row_id": {"type": "integer", "format": "int64"},
        "last_row_id": {"type": "integer", "format": "int64"},
        "created_at": _TIMESTAMP,
        "started_at": _TIMESTAMP,
        "finished_at": _NULLABLE_TIMESTAMP,
        "elapsed_s": {"type": "number", "description": "seconds from started_at to finished_at (or now)"},
        **{name: {**_COUNT, "description": f"rows in state {name}"} for name in ("pending", "active", "idle", "done", "failed")},
        "restarts": {**_COUNT, "description": "row server restarts, summed over the run's rows"},
        "ticks": {**_COUNT, "description": "ticks, summed over the run's rows"},
    }),
    "RunList": _object({"runs": {"type": "array", "items": _ref("schemas", "Run")}}),
    "CreateRun": _object(
        {name: _int_schema(spec) for name, spec in RUN_FIELDS.items()},
        required=[name for name, spec in RUN_FIELDS.items() if spec.required],
    ),
    "Row": _object(_ROW_PROPERTIES),
    **_MESSAGE_SCHEMAS,
    "Message": {
        "oneOf": [_ref("schemas", name) for name in _MESSAGE_SCHEMAS],
        "discriminator": {
            "propertyName": "type",
            "mapping": {kind: f"#/components/schemas/{kind.capitalize()}Message" for kind in MESSAGE_FIELDS},
        },
    },
    "MessageAccepted": _object({"message_id": {"type": "integer", "format": "int64"}}),
    "MessageReply": _object({
        "message_id": {"type": "integer", "format": "int64"},
        "reply": {"oneOf": [_ref("schemas", "RowReply"), _ref("schemas", "DiscardedReply")]},
    }),
    "RowReply": _object(
        {**_ROW_PROPERTIES, "type": _REPLY_TYPE},
        description="the row after the message, as GET /rows/{row_id} shows it, with the reply's type; "
                    "node is the node that applied it",
    ),
    "DiscardedReply": _object(
        {
            "type": _REPLY_TYPE,
            "node": {"type": "string", "description": "the node that set the message aside"},
            "dead_letter_id": {"type": "integer", "format": "int64",
                               "description": "where it was kept: GET /rows/{row_id}/dead-letters lists it"},
            "error": _object({
                "code": {"const": "message_discarded"},
                "message": {"type": "string", "description": "why its effect could never be applied"},
            }),
        },
        description="the message could never be applied (its effect is impossible, or it crashed the row server "
                    "past its restart limit): it was moved unapplied to the row's dead letters",
    ),
    "Node": _object(
        {
            "id": {"type": "string", "description": "host-pid-suffix, unique per worker start"},
            "host": {"type": "string"},
            "pid": {"type": "integer", "description": "the worker's process id"},
            "started_at": _TIMESTAMP,
            "row_servers": {**_COUNT, "description": "live row servers (as of its last heartbeat, or now "
                                                     "for the answering node)"},
            "heartbeat_age_s": {"type": "number", "minimum": 0, "description": "seconds since its last heartbeat"},
            "shards": {**_COUNT, "description": "shard leases it holds"},
        },
        description="a live node of the cluster: one gunicorn worker",
    ),
    "NodeList": _object({"nodes": {"type": "array", "items": _ref("schemas", "Node")}}),
    "Health": _object({"status": {"const": "ok"}, "node": {"type": "string"}}),
    "Ready": _object({"status": {"const": "ready"}, "node": {"type": "string"}}),
}

_PATHS = {
    "/runs": {
        "post": {
            "operationId": "create_run", "tags": ["runs"], "summary": "Create a run and start its rows",
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {"required": True, **_json(_ref("schemas", "CreateRun"))},
            "responses": {
                "201": _ok("the run as created: every row pending", _ref("schemas", "Run"), {
                    "Location": {"description": "/runs/{id}", "schema": {"type": "string"}}, **_REPLAYED,
                }),
                **_errors(400, 413, 415, 422, 429, 503),
            },
        },
        "get": {
            "operationId": "list_runs", "tags": ["runs"], "summary": "The latest runs, newest first",
            "parameters": [_query_parameter("limit", "at most this many runs")],
            "responses": {"200": _ok("the runs", _ref("schemas", "RunList")), **_errors(400, 503)},
        },
    },
    "/runs/{run_id}": {
        "get": {
            "operationId": "get_run", "tags": ["runs"], "summary": "A run with its row counts",
            "parameters": [_path_id("run_id", "run")],
            "responses": {"200": _ok("the run", _ref("schemas", "Run")), **_errors(404, 503)},
        },
    },
    "/runs/{run_id}/stop": {
        "post": {
            "operationId": "stop_run", "tags": ["runs"], "summary": "Stop a run's rows (no body, or {})",
            "parameters": [_path_id("run_id", "run")],
            "requestBody": {"required": False, **_json(_object({}))},
            "responses": {"200": _ok("the run", _ref("schemas", "Run")), **_errors(400, 404, 413, 415, 503)},
        },
    },
    "/rows/{row_id}": {
        "get": {
            "operationId": "get_row", "tags": ["rows"], "summary": "A row",
            "parameters": [_path_id("row_id", "row")],
            "responses": {"200": _ok("the row", _ref("schemas", "Row")), **_errors(404, 503)},
        },
    },
    "/rows/{row_id}/messages": {
        "post": {
            "operationId": "send_message", "tags": ["rows"],
            "summary": "Queue a message for a row's server (cast), or wait for its reply (call)",
            "parameters": [
                _path_id("row_id", "row"),
                _query_parameter("wait", "wait for the row server's reply"),
                _query_parameter("timeout_ms", "how long to wait for the reply (with wait)"),
                _IDEMPOTENCY_KEY,
            ],
            "requestBody": {"required": True, **_json(_ref("schemas", "Message"))},
            "responses": {
                "200": _ok("the reply (wait=true)", _ref("schemas", "MessageReply"), _REPLAYED),
                "202": _ok("the message is queued (wait=false)", _ref("schemas", "MessageAccepted"), _REPLAYED),
                **_errors(400, 404, 413, 415, 422, 429, 503, 504),
            },
        },
    },
    "/rows/{row_id}/events": {
        "get": {
            "operationId": "row_events", "tags": ["rows"],
            "summary": "A row's life as Server-Sent Events, from whichever node owns it (curl -N)",
            "description": (
                "A text/event-stream of named events, each `data:` a JSON object: `row` (the row as GET "
                "/rows/{row_id} shows it: at once, then whenever it changes, read about once a second), "
                "`message` (a message its server handled: `message` type, `message_id`, `value` after it, "
                "`node`), `crash` (its server crashed: `error`, `outcome` restarting or failed), `error` "
                "(the database is unavailable for now; the stream goes on) and `end` (the node is stopping "
                "or the row is gone; reconnect to go on). A comment every 15 s keeps quiet streams open. "
                "Each node serves at most GREENROW_MAX_EVENT_STREAMS streams (429 too_many_streams past it); "
                "a stream whose client went away gives its place back within about a second. "
                "The Greenrow-Node header names the node serving the stream."),
            "parameters": [_path_id("row_id", "row")],
            "responses": {
                "200": {"description": "the stream, until the client closes it or the node stops",
                        "headers": {"Greenrow-Node": {"description": "the node serving the stream",
                                                      "schema": {"type": "string"}}},
                        "content": {"text/event-stream": {"schema": {
                            "type": "object", "description": "one event of the stream",
                            "required": ["event", "data"],
                            "properties": {
                                "event": {"enum": ["row", "message", "crash", "error", "end"]},
                                "data": {"type": "string", "contentMediaType": "application/json",
                                         "description": "a JSON object (see the description)"}}}}}},
                **_errors(404, 429, 503),
            },
        },
    },
    "/dashboard": {
        "get": {
            "operationId": "dashboard", "tags": ["telemetry"],
            "summary": "The live dashboard (an HTML page; no token needed for the page itself)",
            "description": "The page asks for a token when the API needs one and reads /stats?histograms=1, "
                           "/runs and /rows/{row_id}/events with it. Its script, style and vendored uPlot are "
                           "served under /dashboard/.",
            "responses": {"200": {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}},
                          **_errors()},
        },
    },
    "/dashboard/{name}": {
        "get": {
            "operationId": "dashboard_file", "tags": ["telemetry"],
            "summary": "A file of the dashboard: dashboard.js, dashboard.css, vendor/uplot/...",
            "parameters": [{"name": "name", "in": "path", "required": True, "description": "the file's path",
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the file", "content": {"*/*": {"schema": {"type": "string"}}}},
                          **_errors(404)},
        },
    },
    "/healthz": {
        "get": {
            "operationId": "healthz", "tags": ["health"], "summary": "The process answers",
            "responses": {"200": _ok("alive", _ref("schemas", "Health")), **_errors()},
        },
    },
    "/readyz": {
        "get": {
            "operationId": "readyz", "tags": ["health"], "summary": "The node can serve requests",
            "description": "200 once the node runs, the database answers, every worker of this instance is up "
                           "and the cluster's shards are balanced (a run started now is not slowed by rows "
                           "changing hands); otherwise 503 `unavailable`, whose message says why.",
            "responses": {"200": _ok("ready", _ref("schemas", "Ready")), **_errors(503)},
        },
    },
    "/nodes": {
        "get": {
            "operationId": "list_nodes", "tags": ["nodes"], "summary": "The cluster's live nodes",
            "responses": {"200": _ok("the nodes", _ref("schemas", "NodeList")), **_errors(503)},
        },
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi", "tags": ["meta"], "summary": "This document",
            "responses": {"200": _ok("an OpenAPI 3.1 document", {"type": "object"}), **_errors()},
        },
    },
}

# --- telemetry: GET /metrics (Prometheus) and GET /stats (JSON) ---------------------------------------

_SUMMARY = _object({
    "count": _COUNT,
    **{key: {"type": ["number", "null"], "description": f"{what} (null while count is 0)"}
       for key, what in (("mean_ms", "mean"), ("p50_ms", "median, the upper bound of its bucket (about 10 % wide)"),
                         ("p99_ms", "99th percentile, the upper bound of its bucket"), ("max_ms", "largest value"))},
}, description="a histogram's summary: milliseconds (rows, for tick_batch_rows)")
_HISTOGRAM_FIELDS = {
    "tick_lateness": "a tick's commit time minus its due time",
    "tick_commit": "duration of a group commit of ticks",
    "tick_batch_rows": "ticks per group commit (the _ms keys are row counts)",
    "pool_checkout": "time to get a connection from the request pool",
}
_STATS_COUNTS = {
    "row_servers": "live row servers",
    "pending_calls": "calls (?wait=true) waiting for their reply",
    "shards_held": "shard leases held",
    "inbox_messages": "messages waiting in the inboxes of the shards held (null until first read)",
    "rss_bytes": "resident memory in bytes",
}
_TELEMETRY_SCHEMAS = {
    "LatencySummary": _SUMMARY,
    "PoolStats": _object({name: _COUNT for name in ("size", "open", "in_use", "idle", "waiting")}),
    "HttpRequestStats": _object({
        "route": {"type": "string", "description": "the URL rule, e.g. /rows/<id:row_id>; unmatched for 404 and 405"},
        "method": {"type": "string"}, "status": {"type": "integer"}, **_SUMMARY["properties"]}),
    "Counters": _object({name: _COUNT for name in COUNTERS}, description="counters since the node started (README, Telemetry)"),
    "MessagesByType": {"type": "object", "description": "message type -> outcome (accepted, applied, discarded, "
                       "timed_out) -> count", "additionalProperties": {"type": "object", "additionalProperties": _COUNT}},
    "NodeStats": _object({
        "node": {"type": "string", "description": "the node's id"},
        "host": {"type": "string"}, "pid": {"type": "integer"}, "started_at": _TIMESTAMP,
        "heartbeat_age_s": {"type": ["number", "null"], "description": "null: the answering node's heartbeat is late"},
        "stats_age_s": {"type": ["number", "null"], "description": "age of these figures: 0 for the answering node, "
                        "up to about a second for the others (written to their row once a second)"},
        "running": {"type": "boolean"}, "uptime_s": {"type": "number"},
        "greenlets": {"type": "object", "description": "greenlets by kind: row_server, service, request, restart",
                      "additionalProperties": _COUNT},
        "monitors": {"type": "object", "description": "run id -> its monitor here",
                     "additionalProperties": _object({"active": _COUNT})},
        **{name: {**_COUNT, "description": what} for name, what in _STATS_COUNTS.items()},
        "inbox_messages": {"type": ["integer", "null"], "minimum": 0, "description": _STATS_COUNTS["inbox_messages"]},
        "pool": {"oneOf": [_ref("schemas", "PoolStats"), {"type": "null"}]},
        "cpu_s": {"type": "number", "description": "CPU seconds (user and system) of the worker"},
        "counters": _ref("schemas", "Counters"),
        "messages": _ref("schemas", "MessagesByType"),
        **{name: {**_ref("schemas", "LatencySummary"), "description": what} for name, what in _HISTOGRAM_FIELDS.items()},
        "http_requests": {"type": "array", "items": _ref("schemas", "HttpRequestStats")},
    }, required=["node", "host", "pid", "started_at", "heartbeat_age_s", "stats_age_s"],
        description="one node's figures, as it wrote them last (the answering node's: now)"),
    "ClusterStats": _object({
        "nodes": {**_COUNT, "description": "live nodes"},
        **{name: {**_COUNT, "description": f"{what}, summed over the nodes"} for name, what in _STATS_COUNTS.items()},
        "cpu_s": {"type": "number", "description": "CPU seconds, summed over the nodes"},
        "pool": _ref("schemas", "PoolStats"),
        "counters": _ref("schemas", "Counters"),
        "messages": _ref("schemas", "MessagesByType"),
        **{name: {**_ref("schemas", "LatencySummary"), "description": f"{what}: every node's counts together"}
           for name, what in _HISTOGRAM_FIELDS.items()},
        "http_requests": {"type": "array", "items": _ref("schemas", "HttpRequestStats")},
    }, description="the live nodes' figures added up (a node that left takes its counters with it)"),
    "HistogramBuckets": _object({
        "buckets": {"type": "array", "description": "[upper bound in ms, count] in order; a null bound is above "
                    "every bound. Two answers apart in time give what was recorded between them.",
                    "items": {"type": "array", "prefixItems": [{"type": ["number", "null"]}, _COUNT],
                              "minItems": 2, "maxItems": 2}},
        "sum": {"type": "number"}, "max": {"type": "number"},
    }, description="a histogram's bucket counts since the nodes started, every live node's together"),
    "Stats": _object({
        "node": {"type": "string", "description": "the node that answered"},
        "cluster": _ref("schemas", "ClusterStats"),
        "nodes": {"type": "array", "items": _ref("schemas", "NodeStats")},
        "histograms": _object({"tick_lateness": _ref("schemas", "HistogramBuckets"),
                               "http_requests": _ref("schemas", "HistogramBuckets")},
                              description="with ?histograms=true only"),
    }, required=["node", "cluster", "nodes"]),
}
_TELEMETRY_PATHS = {
    "/metrics": {
        "get": {
            "operationId": "metrics", "tags": ["telemetry"],
            "summary": "This instance's telemetry in the Prometheus text format (every worker's, whichever answers)",
            "description": "Counters and histograms summed over the instance's workers, gauges one series per "
                           "live worker (pid label). Answered also while the node starts or the database is "
                           "down. The README lists every metric.",
            "responses": {
                "200": {"description": "Prometheus text exposition format 0.0.4",
                        "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}},
                **_errors(),
            },
        },
    },
    "/stats": {
        "get": {
            "operationId": "stats", "tags": ["telemetry"],
            "summary": "Every live node's figures and the cluster's totals, as JSON",
            "parameters": [_query_parameter("histograms", "also the cluster's bucket counts of tick lateness and of "
                                            "HTTP request durations, for recent percentiles (the dashboard)")],
            "responses": {"200": _ok("the cluster's telemetry", _ref("schemas", "Stats")), **_errors(503)},
        },
    },
}
_SCHEMAS.update(_TELEMETRY_SCHEMAS)
_PATHS.update(_TELEMETRY_PATHS)

# --- dead letters: GET /rows/{row_id}/dead-letters, POST /dead-letters/{id}/replay, DELETE /dead-letters/{id} ---

_ID = {"type": "integer", "format": "int64"}
_SCHEMAS.update({
    "DeadLetter": _object({
        "id": _ID,
        "row_id": _ID,
        "message_id": {**_ID, "description": "its id when it was queued (a replay queues it with a new one)"},
        "type": {"type": "string", "enum": list(MESSAGE_FIELDS)},
        "body": {"type": "object", "description": "its fields besides type"},
        "error": {"type": "string", "description": "why it was set aside: the exception, one line"},
        "sent_at": {**_TIMESTAMP, "description": "when it was committed to the row's inbox"},
        "dead_at": {**_TIMESTAMP, "description": "when it was set aside"},
    }, description="a message set aside unapplied: its effect could never be applied, or it crashed its row "
                   "server past the row's restart limit"),
    "DeadLetterList": _object({"dead_letters": {"type": "array", "items": _ref("schemas", "DeadLetter")}}),
    "DeadLetterReplayed": _object({"message_id": {**_ID, "description": "the new message in the row's inbox"},
                                   "row_id": _ID}),
})
_PATHS.update({
    "/rows/{row_id}/dead-letters": {
        "get": {
            "operationId": "list_dead_letters", "tags": ["dead letters"], "summary": "A row's dead letters, oldest first",
            "parameters": [_path_id("row_id", "row"), _query_parameter("limit", "at most this many")],
            "responses": {"200": _ok("the dead letters", _ref("schemas", "DeadLetterList")), **_errors(404, 503)},
        },
    },
    "/dead-letters/{dead_letter_id}/replay": {
        "post": {
            "operationId": "replay_dead_letter", "tags": ["dead letters"],
            "summary": "Put a dead letter back at the end of its row's inbox (no body, or {})",
            "description": "In one transaction: a new message with its type and body is queued (within "
                           "GREENROW_INBOX_MAX: 429 inbox_full otherwise, and it stays a dead letter) and the "
                           "dead letter is removed.",
            "parameters": [_path_id("dead_letter_id", "dead letter")],
            "requestBody": {"required": False, **_json(_object({}))},
            "responses": {"202": _ok("queued again", _ref("schemas", "DeadLetterReplayed")),
                          **_errors(400, 404, 413, 415, 429, 503)},
        },
    },
    "/dead-letters/{dead_letter_id}": {
        "delete": {
            "operationId": "delete_dead_letter", "tags": ["dead letters"], "summary": "Drop a dead letter",
            "parameters": [_path_id("dead_letter_id", "dead letter")],
            "responses": {"200": _ok("the dead letter, dropped", _ref("schemas", "DeadLetter")), **_errors(404, 503)},
        },
    },
})

# --- retention: DELETE /runs/{run_id} -------------------------------------------------------------------

_PATHS["/runs/{run_id}"]["delete"] = {
    "operationId": "delete_run", "tags": ["runs"], "summary": "Delete a finished run: its rows, messages and dead letters",
    "description": "Marks a done or stopped run `deleting` and answers at once; a run deleter (any node's) removes "
                   "its messages and rows in batches of 5,000, then the run: GET /runs/{run_id} shows it "
                   "`deleting` until then, and 404 after. Deleting a run already marked answers 202 again.",
    "parameters": [_path_id("run_id", "run")],
    "responses": {"202": _ok("the run, marked deleting", _ref("schemas", "Run")), **_errors(404, 409, 503)},
}

_STATUSES = sorted({status for status, _ in ERROR_CODES.values()})


def _secured(paths):
    """Every operation needs a bearer token (when GREENROW_API_TOKEN is set) and can answer 401, but the
    probes, which are open."""
    for path, operations in paths.items():
        for operation in operations.values():
            if path in OPEN_PATHS or path.startswith(OPEN_PREFIX):
                operation["security"] = []
            else:
                operation["responses"]["401"] = _ref("responses", "401")
    return paths


DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "greenrow",
        "version": "1",
        "description": (
            "Every database row gets its own long-lived row server. Errors all have one shape, "
            '{"error": {"code": "...", "message": "..."}}; 405 (method_not_allowed) can be answered by '
            "any path. Request bodies are JSON objects of at most 64 KiB."
        ),
    },
    "paths": _secured(_PATHS),
    "security": [{"bearer": []}],
    "components": {
        "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "Any token of GREENROW_API_TOKEN (comma-separated); GET /metrics also takes a token of "
                           "GREENROW_METRICS_TOKEN. With neither set, the API is open."}},
        "schemas": _SCHEMAS,
        "responses": {str(status): _error_response(status) for status in _STATUSES if status != 405},
    },
}
