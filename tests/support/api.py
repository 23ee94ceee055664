"""Helpers for the HTTP API tests: raw requests and messages, the one error shape, the OpenAPI schemas."""
import json

from service.openapi import DOCUMENT

JSON = "application/json"
SCHEMAS = DOCUMENT["components"]["schemas"]
FINISHED_ROWS = 24  # the rows of the finished run the shared service's tests take one each (finished_run)


def post_raw(service, path, data, content_type=JSON, **kwargs):
    headers = {"Content-Type": content_type} if content_type else {}
    return service.http.post(service.url(path), data=data, headers=headers, timeout=30, **kwargs)


def send(service, row_id, message, wait=False, timeout_ms=None):
    """POST one message as it is; the response, unchecked (tests.support.rows.send checks it)."""
    query = []
    if wait:
        query.append("wait=true")
    if timeout_ms is not None:
        query.append(f"timeout_ms={timeout_ms}")
    return service.post(f"/rows/{row_id}/messages" + ("?" + "&".join(query) if query else ""), json=message)


def call(service, row_id, message, timeout_ms=5000):
    """A call that must be answered: the row server's reply."""
    response = send(service, row_id, message, wait=True, timeout_ms=timeout_ms)
    assert response.status_code == 200, (message, response.status_code, response.text)
    body = response.json()
    assert set(body) == {"message_id", "reply"} and isinstance(body["message_id"], int)
    assert set(body["reply"]) == set(SCHEMAS["Row"]["properties"]) | {"type"}, body
    return body["reply"]


def error_code(response, status, extra=()):
    """The code of an error answer, after checking its status and its one JSON shape."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"] == JSON
    body = response.json()
    assert set(body) == {"error", *extra}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert "Traceback" not in response.text
    return body["error"]["code"]


def assert_shape(body, schema_name):
    """body has exactly the properties of a closed schema of the OpenAPI document."""
    assert set(body) == set(SCHEMAS[schema_name]["properties"]), (schema_name, body)


def row(service, row_id):
    return service.json(f"/rows/{row_id}")


def padded(document, size):
    """document as JSON, padded with spaces to exactly size bytes."""
    raw = json.dumps(document).encode()
    return raw + b" " * (size - len(raw))
