"""The OpenAPI document describes exactly the routes the app has, and every error code it answers."""
import copy
import json
import re

import pytest

from config.settings import Settings
from greenlets.rows.inbox import reply_type
from greenlets.rows.messages import TYPES as MESSAGE_TYPES
from service import create_app
from service.openapi import DOCUMENT, ERROR_CODES, undocumented_routes
from service.validation import query_params_of

# Every error code the API answers, with its status (README "Errors").
ANSWERED_CODES = {
    "bad_request": 400,
    "invalid_json": 400,
    "invalid_body": 400,
    "unknown_field": 400,
    "missing_field": 400,
    "invalid_field": 400,
    "unknown_message_type": 400,
    "invalid_parameter": 400,
    "fault_injection_disabled": 400,
    "unauthorized": 401,
    "unknown_parameter": 400,
    "not_found": 404,
    "run_not_found": 404,
    "row_not_found": 404,
    "dead_letter_not_found": 404,
    "run_not_finished": 409,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "inbox_full": 429,
    "run_too_large": 422,
    "limit_reached": 429,
    "internal_error": 500,
    "unavailable": 503,
    "timeout": 504,
}
PATH_PARAMETER = re.compile(r"\{([^{}]+)\}")
RULE_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")  # <id:run_id> -> {run_id}


class NoNode:
    """Stands in for the node: building the app stores it and reads its settings, calls none of its methods."""
    settings = Settings(database_url="")


@pytest.fixture
def app():
    return create_app(NoNode())


def operations():
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def resolve(ref):
    assert ref.startswith("#/"), ref
    target = DOCUMENT
    for part in ref[2:].split("/"):
        target = target[part]
    return target


def refs_in(value):
    if isinstance(value, dict):
        if "$ref" in value:
            yield value["$ref"]
        for item in value.values():
            yield from refs_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs_in(item)


def test_every_route_of_the_app_is_documented(app):
    assert undocumented_routes(app) == []


def test_every_documented_operation_is_a_route_of_the_app(app):
    urls = app.url_map.bind("localhost")
    for path, method, operation in operations():
        concrete = PATH_PARAMETER.sub("1", path)

        _, arguments = urls.match(concrete, method=method.upper())  # raises NotFound / MethodNotAllowed

        documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert set(arguments) == documented == set(PATH_PARAMETER.findall(path)), (method, path)


def test_undocumented_routes_reports_a_route_the_document_misses(app):
    app.add_url_rule("/extra/<id:thing_id>", "extra", lambda thing_id: "", methods=["DELETE"])
    document = copy.deepcopy(DOCUMENT)
    del document["paths"]["/runs"]["get"]

    assert undocumented_routes(app, document) == ["DELETE /extra/{thing_id}", "GET /runs"]


def test_the_documented_error_codes_include_every_code_the_api_answers():
    documented = {code: status for code, (status, _) in ERROR_CODES.items()}

    assert documented.items() >= ANSWERED_CODES.items()
    assert DOCUMENT["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"] == list(ERROR_CODES)


def test_every_error_status_but_405_has_a_shared_response_listing_its_codes():
    responses = DOCUMENT["components"]["responses"]
    for code, status in ANSWERED_CODES.items():
        if status != 405:
            assert f"`{code}`" in responses[str(status)]["description"], code
    assert "405" in DOCUMENT["info"]["description"]


def test_every_reference_in_the_document_resolves():
    references = set(refs_in(DOCUMENT))

    assert references
    for ref in references:
        assert isinstance(resolve(ref), dict), ref


def test_each_operation_documents_the_errors_it_can_answer():
    for path, method, operation in operations():
        statuses = set(operation["responses"])
        where = f"{method.upper()} {path}"
        assert "500" in statuses, where
        if "{" in path:
            assert "404" in statuses, where
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= statuses, where
        if operation.get("parameters", []) and any(p["in"] == "query" for p in operation["parameters"]):
            assert "400" in statuses, where
        if path not in ("/healthz", "/openapi.json", "/metrics", "/dashboard", "/dashboard/{name}"):  # (no node needed)
            assert "503" in statuses, where
    assert "504" in DOCUMENT["paths"]["/rows/{row_id}/messages"]["post"]["responses"]


def test_operation_ids_are_unique():
    ids = [operation["operationId"] for _, _, operation in operations()]

    assert len(ids) == len(set(ids))


def test_the_run_request_schema_states_what_validation_enforces():
    schema = DOCUMENT["components"]["schemas"]["CreateRun"]
    fields = schema["properties"]

    assert schema["required"] == ["rows"] and schema["additionalProperties"] is False
    assert {name: field.get("default") for name, field in fields.items()} == {
        "rows": None, "start_value": 3, "step": 1, "tick_ms": 1000, "scan_ms": 2000, "max_concurrency": 10_000,
    }
    assert (fields["rows"]["minimum"], fields["rows"]["maximum"]) == (1, 1_000_000)
    assert (fields["tick_ms"]["minimum"], fields["tick_ms"]["maximum"]) == (10, 3_600_000)


def test_the_message_schema_covers_every_message_type_the_runtime_handles():
    schemas = DOCUMENT["components"]["schemas"]
    mapping = schemas["Message"]["discriminator"]["mapping"]

    assert set(mapping) == set(MESSAGE_TYPES)
    for kind, ref in mapping.items():
        assert resolve(ref)["properties"]["type"] == {"const": kind}
    assert (schemas["SetMessage"]["properties"]["value"]["minimum"],
            schemas["SetMessage"]["properties"]["value"]["maximum"]) == (0, 1_000_000_000)
    assert schemas["IncrMessage"]["required"] == ["type", "by"]


def test_the_query_parameters_state_their_ranges_and_defaults():
    def parameter(path, method, name):
        [found] = [p for p in DOCUMENT["paths"][path][method]["parameters"] if p["name"] == name]
        return found["schema"]

    limit = parameter("/runs", "get", "limit")
    timeout_ms = parameter("/rows/{row_id}/messages", "post", "timeout_ms")
    wait = parameter("/rows/{row_id}/messages", "post", "wait")

    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 1000, 20)
    assert (timeout_ms["minimum"], timeout_ms["maximum"], timeout_ms["default"]) == (1, 60_000, 5000)
    assert set(wait["enum"]) == {"true", "false", "1", "0"} and wait["default"] == "false"


def test_the_document_is_openapi_3_1_in_plain_json():
    assert DOCUMENT["openapi"] == "3.1.0"
    assert json.loads(json.dumps(DOCUMENT)) == DOCUMENT


def test_each_route_documents_exactly_the_query_parameters_it_takes(app):
    paths = DOCUMENT["paths"]
    for rule in app.url_map.iter_rules():
        path = RULE_ARGUMENT.sub(r"{\1}", rule.rule)
        taken = set(query_params_of(app.view_functions[rule.endpoint]))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = paths[path][method.lower()]
            documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            assert documented == taken, (method, path)
            assert "400" in operation["responses"], (method, path)  # unknown_parameter, on every operation


def test_a_reply_is_typed_as_the_row_with_its_reply_type_or_a_discarded_message():
    schemas = DOCUMENT["components"]["schemas"]
    reply = schemas["MessageReply"]["properties"]["reply"]

    assert [resolve(option["$ref"]) for option in reply["oneOf"]] == [schemas["RowReply"], schemas["DiscardedReply"]]
    assert set(schemas["RowReply"]["properties"]) == set(schemas["Row"]["properties"]) | {"type"}
    assert schemas["RowReply"]["additionalProperties"] is False
    assert schemas["RowReply"]["properties"]["type"]["enum"] == [reply_type(kind) for kind in MESSAGE_TYPES]
    assert "pong" in schemas["RowReply"]["properties"]["type"]["enum"]
    assert set(schemas["DiscardedReply"]["properties"]) == {"type", "node", "dead_letter_id", "error"}
    assert schemas["DiscardedReply"]["properties"]["error"]["properties"]["code"] == {"const": "message_discarded"}


def test_a_node_is_typed_field_by_field():
    node = DOCUMENT["components"]["schemas"]["Node"]

    assert node["additionalProperties"] is False
    assert node["required"] == list(node["properties"])
    assert {name: field["type"] for name, field in node["properties"].items()} == {
        "id": "string", "host": "string", "pid": "integer", "started_at": "string", "row_servers": "integer",
        "heartbeat_age_s": "number", "shards": "integer",
    }
