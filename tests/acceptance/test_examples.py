"""examples/: a curl script for every endpoint of the API, each run as it is against a real service.

The scripts run in the order a newcomer would (examples/create-run.sh starts the slow demo run the
others act on); each must exit 0 (curl --fail-with-body: an error answer fails the script) and print
the answers the API documents.
"""
import json
import os
import re
from pathlib import Path

from service.openapi import DOCUMENT
from tests.support.command_line import run_example
from tests.support.wait import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ORDER = ["healthz.sh", "readyz.sh", "openapi.sh", "nodes.sh", "metrics.sh", "stats.sh", "dashboard.sh", "create-run.sh",
         "list-runs.sh", "get-run.sh", "get-row.sh", "row-events.sh", "cast-message.sh", "retry-cast.sh",
         "call-message.sh", "every-message-type.sh", "list-dead-letters.sh", "replay-dead-letter.sh",
         "delete-dead-letter.sh", "stop-run.sh", "delete-run.sh"]
ENDPOINT = re.compile(r"^# (GET|POST|PUT|PATCH|DELETE) (/[^\s?:]*)\S*:", re.MULTILINE)  # the path, without a query


def endpoints_of(script):
    return {f"{method} {path}" for method, path in ENDPOINT.findall((EXAMPLES / script).read_text())}


def example(url, script, *args, ok=True):
    result = run_example(url, script, *args)
    if not ok:
        return result
    assert result.returncode == 0, (script, result.returncode, result.stdout, result.stderr)
    return result.stdout


def answer(url, script, *args):
    return json.loads(example(url, script, *args))


def test_every_operation_of_the_api_has_an_example_and_the_test_runs_every_example():
    documented = {f"{method.upper()} {path}" for path, methods in DOCUMENT["paths"].items() for method in methods}
    scripts = sorted(path.name for path in EXAMPLES.glob("*.sh") if os.access(path, os.X_OK))

    assert sorted(ORDER) == scripts
    covered = set().union(*(endpoints_of(script) for script in scripts))
    assert documented - covered == set(), "endpoints without an example"
    assert covered - documented == set(), "examples of endpoints the API does not have"


def test_the_examples_run_as_they_are_against_the_service(api):
    url = api.url("")
    node_id = api.json("/healthz")["node"]

    assert answer(url, "healthz.sh") == {"status": "ok", "node": node_id}
    assert answer(url, "readyz.sh") == {"status": "ready", "node": node_id}
    operations = example(url, "openapi.sh").splitlines()
    assert "POST  /rows/{row_id}/messages" in "\n".join(operations) and len(operations) == sum(
        len(methods) for methods in DOCUMENT["paths"].values())
    assert [node["id"] for node in answer(url, "nodes.sh")["nodes"]] == [node_id]
    assert example(url, "metrics.sh").strip()
    assert answer(url, "stats.sh")["node"] == node_id
    assert "<title>greenrow dashboard</title>" in example(url, "dashboard.sh")
    no_run_yet = example(url, "get-row.sh", ok=False)
    assert (no_run_yet.returncode, no_run_yet.stdout) == (1, "")
    assert no_run_yet.stderr == "no run yet: examples/create-run.sh starts one\n"

    run = answer(url, "create-run.sh")
    assert (run["status"], run["rows"], run["start_value"], run["tick_ms"]) == ("running", 1000, 120, 1000)
    assert answer(url, "list-runs.sh")["runs"][0]["id"] == run["id"]
    assert answer(url, "get-run.sh")["id"] == run["id"]
    row_id = run["first_row_id"]
    ticking = wait_until(lambda: (row := answer(url, "get-row.sh"))["value"] < 120 and row, 15,
                         message="the demo run's first row never ticked")
    assert (ticking["id"], ticking["status"]) == (row_id, "running")
    events = run_example(url, "row-events.sh", env={"SECONDS_TO_WATCH": "3"})
    assert events.returncode == 0 and events.stdout.startswith("event: row\ndata: {") and \
        events.stdout.count("event: row") >= 2, events  # the row, then a tick later

    assert set(answer(url, "cast-message.sh")) == {"message_id"}
    first, retry = [json.loads(line) for line in example(url, "retry-cast.sh").splitlines()]
    assert first == retry and set(first) == {"message_id"}  # one message, applied once
    called = answer(url, "call-message.sh")
    assert (called["reply"]["id"], called["reply"]["type"]) == (row_id, "get")
    replies = [json.loads(line)["reply"] for line in example(url, "every-message-type.sh").splitlines()]
    assert [reply["type"] for reply in replies] == ["pong", "get", "incr", "set", "pause", "resume", "stop"]
    assert replies[3]["value"] == 10 and replies[4]["status"] == "paused" and replies[6]["status"] == "idle"

    # A poison message (the api service runs with GREENROW_FAULT_INJECTION=1) ends in the dead letters.
    poisoned = answer(url, "call-message.sh", str(row_id), '{"type": "crash", "poison": 1}')["reply"]
    assert poisoned["error"]["code"] == "message_discarded"
    [letter] = answer(url, "list-dead-letters.sh")["dead_letters"]
    assert (letter["id"], letter["row_id"], letter["body"]) == (poisoned["dead_letter_id"], row_id, {"poison": 1})
    assert answer(url, "replay-dead-letter.sh")["row_id"] == row_id  # it crashes the server again: back it comes
    [again] = wait_until(lambda: answer(url, "list-dead-letters.sh")["dead_letters"], 20)
    assert answer(url, "delete-dead-letter.sh") == again
    assert answer(url, "list-dead-letters.sh") == {"dead_letters": []}

    stopped = answer(url, "stop-run.sh")
    assert (stopped["id"], stopped["status"]) == (run["id"], "stopped")
    deleting = answer(url, "delete-run.sh")
    assert (deleting["id"], deleting["status"]) == (run["id"], "deleting")
    wait_until(lambda: api.get(f"/runs/{run['id']}").status_code == 404, 30, message="the demo run was never deleted")
