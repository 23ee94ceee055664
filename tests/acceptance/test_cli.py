"""./greenrow, the command line, in a subprocess against a real service (one for the module: the api fixture).

Runs are small and fast (tens to hundreds of rows, 50-100 ms ticks); every wait has a deadline.
"""
import json
import re
import socket

import pytest

from tests.support.command_line import greenrow, greenrow_on_a_terminal, run_example
from tests.support.wait import wait_until


@pytest.fixture(scope="module")
def url(api):
    return api.url("")


def cli(url, *args, ok=True):
    """./greenrow ARGS; with ok, it must succeed and print nothing on stderr."""
    result = greenrow(url, *args)
    if ok:
        assert (result.returncode, result.stderr) == (0, ""), (args, result)
    return result


def only_line(text):
    lines = text.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(scope="module")
def stopped_run(url):
    """A run of 10 rows that ticks for minutes, stopped once its rows have started: rows to send messages to."""
    run_id = int(cli(url, "run", "start", "--rows", 10, "--start-value", 100_000, "--tick-ms", 100,
                     "--field", "id").stdout)
    wait_until(lambda: cli(url, "run", "show", run_id, "--json").json_lines()[0]["ticks"] >= 10, 15)
    cli(url, "run", "stop", run_id)
    return cli(url, "run", "show", run_id, "--json").json_lines()[0]


# --- following a run ---------------------------------------------------------------------------------------

def test_run_start_watch_json_prints_a_line_per_poll_until_the_run_is_done(url):
    result = cli(url, "run", "start", "--rows", 200, "--start-value", 10, "--tick-ms", 100, "--watch", "--json",
                 "--interval", 0.2)

    polls = result.json_lines()
    last = polls[-1]["run"]
    assert (last["status"], last["rows"], last["done"], last["ticks"]) == ("done", 200, 200, 2000)
    assert (polls[-1]["ticks_needed"], polls[-1]["eta_s"]) == (2000, 0.0)
    assert [poll["run"]["status"] for poll in polls[:-1]] == ["running"] * (len(polls) - 1) and len(polls) >= 3
    assert any(poll["ticks_per_s"] and poll["eta_s"] is not None for poll in polls[:-1]), polls
    assert [poll["run"]["ticks"] for poll in polls] == sorted(poll["run"]["ticks"] for poll in polls)


def test_run_start_watch_in_a_pipe_prints_plain_progress_lines_and_the_final_counts(url):
    result = cli(url, "run", "start", "--rows", 100, "--start-value", 5, "--tick-ms", 100, "--watch",
                 "--interval", 0.2)

    first, *progress, final = result.lines
    run_id = re.fullmatch(r"run (\d+) started: rows \d+-\d+", first).group(1)
    assert progress and all(line.startswith(f"run {run_id} running: ") and " ticks/s " in line and "ETA " in line
                            for line in progress), progress
    assert final.startswith(f"run {run_id} done after ") and "rows 100 done, 0 active, 0 pending" in final
    assert "500 ticks, 0 restarts" in final
    assert "\x1b" not in result.stdout  # no terminal codes in a pipe


def test_run_start_watch_on_a_terminal_draws_a_progress_bar_with_rate_and_eta(url):
    status, drawn = greenrow_on_a_terminal(url, "run", "start", "--rows", 100, "--start-value", 10, "--tick-ms", 100,
                                           "--watch", "--interval", 0.2)

    assert status == 0, drawn
    assert "━" in drawn and "ticks/s" in drawn and "ETA " in drawn and "/100 rows done" in drawn, drawn
    assert "100%" in drawn and " done after " in drawn and "rows 100 done" in drawn, drawn


# --- runs, rows, nodes ---------------------------------------------------------------------------------------

def test_run_show_list_and_stop_answer_the_run(url, stopped_run):
    run_id = stopped_run["id"]

    assert stopped_run["status"] == "stopped" and stopped_run["rows"] == 10
    shown = cli(url, "run", "show", run_id).stdout
    assert shown.startswith(f"run {run_id}: stopped, rows {stopped_run['first_row_id']}-{stopped_run['last_row_id']}")
    assert [run["id"] for run in cli(url, "run", "list", "--json").json_lines()[0]["runs"]][0] >= run_id
    listed = cli(url, "run", "list", "--limit", 50).lines
    assert listed[0].split()[:3] == ["id", "status", "rows"]
    assert any(line.split()[:2] == [str(run_id), "stopped"] for line in listed[1:]), listed
    assert cli(url, "run", "stop", run_id, "--field", "status").stdout == "stopped\n"  # a second stop changes nothing


def test_run_delete_deletes_a_finished_run_and_refuses_a_running_one(url):
    running = int(cli(url, "run", "start", "--rows", 5, "--start-value", 1000, "--field", "id").stdout)
    refused = cli(url, "run", "delete", running, ok=False)
    assert refused.returncode == 1 and "run_not_finished, HTTP 409" in refused.stderr, refused
    cli(url, "run", "stop", running)

    assert cli(url, "run", "delete", running, "--field", "status").stdout == "deleting\n"
    wait_until(lambda: cli(url, "run", "show", running, ok=False).returncode == 1, 30)
    assert "run_not_found" in cli(url, "run", "show", running, ok=False).stderr


def test_row_get_and_send_casts_and_calls(url, stopped_run):
    row_id = stopped_run["first_row_id"]
    value = int(cli(url, "row", "get", row_id, "--field", "value").stdout)

    assert cli(url, "row", "send", row_id, "incr", "by=5", "--wait", "--field", "value").stdout == f"{value + 5}\n"
    queued = only_line(cli(url, "row", "send", row_id, "set", "value=7").stdout)
    assert queued.startswith("message ") and queued.endswith(f" queued for row {row_id}")
    wait_until(lambda: cli(url, "row", "get", row_id, "--field", "value", "--field", "status").stdout == "7 idle\n", 10)
    pong = cli(url, "row", "send", row_id, "ping", "--wait", "--timeout-ms", 3000).lines[0]
    assert pong.startswith(f"row {row_id} after pong (message ") and "): value 7, idle, on node " in pong
    [answer] = cli(url, "--json", "row", "get", row_id).json_lines()
    assert (answer["id"], answer["run_id"], answer["value"]) == (row_id, stopped_run["id"], 7)


def test_row_watch_prints_the_row_counting_down_then_each_change(url):
    run_id = int(cli(url, "run", "start", "--rows", 1, "--start-value", 100_000, "--tick-ms", 200, "--field", "id").stdout)
    row_id = cli(url, "run", "show", run_id, "--json").json_lines()[0]["first_row_id"]

    events = cli(url, "--json", "row", "watch", row_id, "--count", 3).json_lines()
    assert [event["event"] for event in events] == ["row", "row", "row"]
    values = [event["value"] for event in events]
    assert values == sorted(values, reverse=True) and values[0] > values[-1], values  # a tick between each
    lines = cli(url, "row", "watch", row_id, "--count", 2).lines
    assert len(lines) == 2 and all(re.match(rf"\d\d:\d\d:\d\d row {row_id}: value [\d,]+, running, on node ", line)
                                   for line in lines), lines
    cli(url, "run", "stop", run_id)


def test_nodes_and_top_show_the_live_node(url, api):
    node_id = api.json("/healthz")["node"]

    [answer] = cli(url, "nodes", "--json").json_lines()
    assert [(node["id"], node["shards"]) for node in answer["nodes"]] == [(node_id, 256)]
    assert node_id in cli(url, "nodes").stdout
    screens = cli(url, "top", "-n", 2, "--interval", 0.1).stdout
    assert screens.count("\nnodes\n") == 2 and screens.count(node_id) == 2 and "\nruns\n" in screens
    [snapshot] = cli(url, "top", "-n", 1, "--json").json_lines()
    assert set(snapshot) == {"nodes", "runs"} and snapshot["nodes"][0]["id"] == node_id
    status, drawn = greenrow_on_a_terminal(url, "top", "-n", 2, "--interval", 0.1)
    assert status == 0 and drawn.count(node_id) >= 2 and "row servers" in drawn and "Ctrl-C quits" in drawn, drawn


# --- errors: one line, a non-zero exit -----------------------------------------------------------------------

def test_an_error_from_the_service_is_one_line_on_stderr_and_exit_status_1(url, stopped_run):
    row_id = stopped_run["first_row_id"]
    refused = {
        ("run", "show", 999_999_999): "greenrow: run 999999999 does not exist (run_not_found, HTTP 404)",
        ("run", "start", "--rows", 0): "greenrow: rows must be an integer from 1 to 1000000 (invalid_field, HTTP 400)",
        ("row", "send", row_id, "explode"): "greenrow: unknown message type 'explode'; expected one of ping, get, set, "
                                            "incr, pause, resume, stop, crash (unknown_message_type, HTTP 400)",
        ("row", "send", row_id, "incr", "by=x"): "greenrow: by must be an integer from -1000000000 to 1000000000 "
                                                 "(invalid_field, HTTP 400)",
        ("row", "send", row_id, "ping", "--timeout-ms", 10): "greenrow: timeout_ms is only taken with wait=true "
                                                             "(a cast does not wait) (invalid_parameter, HTTP 400)",
    }
    for args, line in refused.items():
        result = cli(url, *args, ok=False)

        assert (result.returncode, result.stdout, only_line(result.stderr)) == (1, "", line), args


def test_no_service_at_the_url_is_one_line_and_exit_status_3():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: refused
        result = greenrow(f"http://127.0.0.1:{port}", "run", "list")

    assert (result.returncode, result.stdout) == (3, "")
    assert only_line(result.stderr) == (f"greenrow: cannot reach the service at http://127.0.0.1:{port}: connection "
                                        "refused (is it running? `make run` starts it; --url or GREENROW_URL picks another)")


def test_a_usage_error_exits_2(url, stopped_run):
    row_id = stopped_run["first_row_id"]
    malformed = cli(url, "row", "send", row_id, "incr", "by", ok=False)
    no_such_field = cli(url, "row", "get", row_id, "--field", "nope", ok=False)

    assert malformed.returncode == 2 and "'by' is not NAME=VALUE (for example by=5)" in malformed.stderr
    assert (no_such_field.returncode, no_such_field.stdout) == (2, "")
    assert only_line(no_such_field.stderr).startswith("greenrow: no field 'nope' in the answer; its fields: id, run_id")


TOKEN, OTHER_TOKEN = "cli-test-token-0123456789abcdef", "cli-test-token-fedcba9876543210"


def test_with_an_api_token_the_command_line_and_the_examples_send_theirs(make_service):
    url = make_service(env={"GREENROW_API_TOKEN": f"{TOKEN},{OTHER_TOKEN}"}).url("")

    refused = greenrow(url, "nodes")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert only_line(refused.stderr) == ("greenrow: this endpoint needs a token: Authorization: Bearer <token> "
                                         "(unauthorized, HTTP 401); --token or GREENROW_TOKEN gives one")
    for args, env in [(("--token", OTHER_TOKEN), {}), ((), {"GREENROW_TOKEN": TOKEN}),
                      ((), {"GREENROW_API_TOKEN": f"{TOKEN},{OTHER_TOKEN}"})]:  # make run's own export
        answered = greenrow(url, *args, "nodes", "--json", env=env)
        assert answered.returncode == 0 and len(answered.json_lines()[0]["nodes"]) == 1, (args, env, answered)

    without = run_example(url, "nodes.sh")
    assert without.returncode == 22 and json.loads(without.stdout)["error"]["code"] == "unauthorized"
    for env in ({"GREENROW_TOKEN": OTHER_TOKEN}, {"GREENROW_API_TOKEN": f"{TOKEN},{OTHER_TOKEN}"}):
        assert json.loads(run_example(url, "nodes.sh", env=env).stdout)["nodes"], env
    assert run_example(url, "healthz.sh").returncode == 0  # the probes are open
