"""schemathesis against the served /openapi.json: generated requests (valid and invalid) to every
operation of a real service with a token; no 5xx, and every answer as the document says (status,
content type, body schema, headers). And without the token, every protected operation answers 401."""
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from service.openapi import DOCUMENT
from service.auth import OPEN_PATHS, OPEN_PREFIX
from tests.support.service import ServiceProcess

TOKEN = "schema-test-token-0123456789"
EXAMPLES = 25
# What schemathesis expects of a request the document calls valid (check positive_data_acceptance),
# widened where a valid request may still be refused for a reason JSON Schema cannot state: POST /runs,
# 422 run_too_large (past the cluster's limits, small here) and idempotency_key_reused (a generated key
# met again with another body); POST /rows/{row_id}/messages, 400 for timeout_ms without wait=true
# (a dependency between two parameters, stated in words), 422 idempotency_key_reused, 504 a call's
# timeout. Not use_after_free: DELETE /runs/{run_id} answers 202 (accepted) and the run reads `deleting`
# until the run deleter has removed it, then 404, as documented. Not ensure_resource_availability: a POST
# /runs retried with its Idempotency-Key answers as it first did (201 and the run), also once that run has
# been deleted, as documented; schemathesis' generated keys recur, and its stateful phase then met a
# replayed 201 for a run deleted meanwhile (GET /runs/<id> 404 once in CI on 2026-12-04, POST
# /runs/<id>/stop 404 in 1 run of 8 that day). That check only judges an operation whose path extends the
# path of the POST that created its resource, and POST /runs is the only such POST here, so excluding it
# excludes exactly that case. (Turned off in this file for one operation it did nothing: `--checks all`
# on the command line takes precedence over an operation's `enabled = false`.)
# An event stream never ends by itself: schemathesis reads its first event (the row) and closes it.
CONFIG = """
[[operations]]
include-operation-id = "create_run"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422", "429"]

[[operations]]
include-operation-id = "send_message"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "409", "422", "429", "504"]

[[operations]]
include-operation-id = "row_events"
max-stream-events = 1
"""
SERVICE_ENV = {
    "GREENROW_API_TOKEN": TOKEN,
    "GREENROW_MAX_UNFINISHED_ROWS": "20000",   # generated runs stay small: larger ones are refused (422/429)
    "GREENROW_MAX_TICK_RATE": "20000",
}


@pytest.fixture(scope="module")
def served(api_database, tmp_path_factory):
    service = ServiceProcess(api_database, tmp_path_factory.mktemp("schema") / "service.log", env=SERVICE_ENV)
    try:
        yield service.start()
    finally:
        service.close()
    unhandled = [line for line in service.log().splitlines() if "unhandled" in line]
    assert not unhandled, "generated requests met internal errors:\n" + "\n".join(unhandled)


def test_every_operation_answers_generated_requests_as_documented(served, tmp_path):
    # schemathesis' command line (its pytest plugin does not support this pytest): valid and invalid
    # requests for every operation, every check (no 5xx, status, content type, body schema, headers).
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run",
         served.url("/openapi.json"), "--header", f"Authorization: Bearer {TOKEN}", "--max-examples", str(EXAMPLES),
         "--seed", "1", "--checks", "all", "--exclude-checks", "use_after_free,ensure_resource_availability",
         "--request-timeout", "30", "--workers", "1", "--no-color"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)  # its cache stays out of the repository
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_without_a_token_every_protected_operation_answers_401_with_a_challenge(served):
    for path, operations in DOCUMENT["paths"].items():
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIX):
            continue
        concrete = path.replace("{run_id}", "1").replace("{row_id}", "1").replace("{name}", "x")
        for method in operations:
            response = requests.request(method.upper(), served.url(concrete), timeout=10, json={} if method == "post" else None)
            assert response.status_code == 401, (method, path, response.status_code, response.text)
            assert response.json()["error"]["code"] == "unauthorized" and response.headers["WWW-Authenticate"]
