"""The command line's own logic, without a service: progress, rate and ETA; NAME=VALUE fields; output."""
import argparse

import pytest

from cli.commands import UsageError, message_body
from cli.main import build_parser, message_field
from cli.output import FieldMissing, picked, table
from cli.progress import RunProgress, format_eta, format_rate
from service.validation import RUN_FIELDS


def a_run(**fields):
    run = {"id": 7, "status": "running", "rows": 1000, "start_value": 3, "step": 1, "ticks": 0, "done": 0,
           "active": 0, "pending": 1000, "idle": 0, "failed": 0}
    run.update(fields)
    return run


def test_a_run_needs_rows_times_the_ticks_from_start_value_to_zero():
    assert RunProgress().update(a_run(start_value=3, step=1), 0).total_ticks == 3000
    assert RunProgress().update(a_run(start_value=10, step=3), 0).total_ticks == 4000  # 10, 7, 4, 1, 0


def test_rate_and_eta_come_from_the_ticks_between_polls():
    progress = RunProgress(window_s=10).update(a_run(ticks=0), 100.0)

    assert (progress.ticks_per_s, progress.eta_s) == (None, None)  # one poll: no rate yet
    progress.update(a_run(ticks=500), 101.0).update(a_run(ticks=1000), 102.0)
    assert progress.ticks_per_s == 500.0 and progress.eta_s == 4.0 and progress.fraction == pytest.approx(1 / 3)


def test_the_rate_forgets_polls_older_than_its_window():
    progress = RunProgress(window_s=2)
    for second, ticks in enumerate([0, 100, 200, 1200, 2200]):  # slow, then fast
        progress.update(a_run(ticks=ticks), float(second))

    assert progress.ticks_per_s == 1000.0


def test_a_finished_run_is_complete_whatever_its_ticks():
    progress = RunProgress().update(a_run(ticks=10), 0).update(a_run(status="stopped", ticks=10), 1)

    assert (progress.finished, progress.fraction, progress.eta_s) == (True, 1.0, 0.0)


def test_ticks_past_the_expected_count_stop_the_bar_at_100_percent():
    progress = RunProgress().update(a_run(ticks=5000), 0)  # incr messages made rows tick longer

    assert progress.fraction == 1.0 and progress.eta_s is None


def test_eta_and_rate_read_as_people_write_them():
    assert [format_eta(s) for s in (None, 0, 4.4, 59.6, 61, 3725)] == [
        "ETA –", "ETA 0s", "ETA 4s", "ETA 1m00s", "ETA 1m01s", "ETA 1h02m"]
    assert (format_rate(None), format_rate(9020.4)) == ("– ticks/s", "9,020 ticks/s")


def test_message_fields_are_json_where_they_can_be_else_strings():
    assert [message_field(text) for text in ("by=5", "by=-3", "value=1e3", "flag=true", "name=abc", "empty=")] == [
        ("by", 5), ("by", -3), ("value", 1000.0), ("flag", True), ("name", "abc"), ("empty", "")]
    for malformed in ("by", "=5"):
        with pytest.raises(argparse.ArgumentTypeError):
            message_field(malformed)


def test_a_message_field_given_twice_or_named_type_is_refused():
    assert message_body([("by", 5)]) == {"by": 5}
    with pytest.raises(UsageError, match="by is given twice"):
        message_body([("by", 5), ("by", 6)])
    with pytest.raises(UsageError, match="type is the TYPE argument"):
        message_body([("type", "get")])


def test_field_picks_values_for_shell_variables():
    answer = {"id": 7, "first_row_id": 20001, "finished_at": None, "nested": {"a": 1}}

    assert picked(answer, ["id", "first_row_id"]) == "7 20001"
    assert picked(answer, ["finished_at", "nested"]) == 'null {"a": 1}'
    with pytest.raises(FieldMissing, match="no field 'nope' in the answer; its fields: id, first_row_id"):
        picked(answer, ["nope"])


def test_tables_align_columns_and_right_align_numbers():
    lines = table(["id", "status", "ticks"], [{"id": 7, "status": "done", "ticks": 60000},
                                              {"id": 1200, "status": "running", "ticks": 5}]).splitlines()

    assert lines == ["  id  status    ticks", "   7  done     60,000", "1200  running       5"]


def test_run_start_takes_every_run_field_of_the_api_as_an_option():
    args = build_parser().parse_args(["run", "start", "--rows", "5", "--max-concurrency", "2", "--tick-ms", "50"])

    assert {name: getattr(args, name) for name in RUN_FIELDS} == {
        "rows": 5, "start_value": None, "step": None, "tick_ms": 50, "scan_ms": None, "max_concurrency": 2}


def test_url_and_json_are_taken_before_or_after_the_command(monkeypatch):
    monkeypatch.setenv("GREENROW_URL", "http://from-env:1")
    parser = build_parser()

    assert parser.parse_args(["nodes"]).url == "http://from-env:1"
    assert parser.parse_args(["--url", "http://before:2", "--json", "nodes"]).url == "http://before:2"
    after = parser.parse_args(["--url", "http://before:2", "nodes", "--url", "http://after:3"])
    assert (after.url, after.json) == ("http://after:3", False)
    assert parser.parse_args(["run", "list", "--json"]).json is True
