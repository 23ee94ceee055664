"""What must hold after a fault, each check failing with what it saw.

    assert_run_exact            every row of the run done at 0 with exactly start_value ticks
    assert_ticks_audited        the chaos audit's tick checks: spaced, numbered once, fenced, all there
    assert_no_restarts          no row failed, no restart counted (the tests crash nothing on purpose)
    assert_messages_exact       every accepted message applied once, in arrival order, with its exact effect
    assert_no_internal_errors   no request answered with a 500 (or anything but what the API promises)
    assert_few_tracebacks       the logs tell the fault in a few lines, not a traceback per row server
    assert_quick_503s           every request sent while the database was down got a 503 within a second
"""
from collections import defaultdict
from contextlib import closing

import psycopg2

from chaos import audit
from tests.faults.traffic import LEDGER_START_VALUE

TRACEBACKS_PER_FAULT = 5
OUTAGE_ANSWER_S = 1.0
SHOWN = 10  # examples quoted in a failure message


def assert_run_exact(db, run):
    groups = db.fetch_all("SELECT value, ticks, state, count(*) FROM rows WHERE run_id = %s"
                          " GROUP BY 1, 2, 3 ORDER BY 4 DESC", (run["id"],))
    expected = [(0, run["start_value"], "done", run["rows"])]
    assert groups == expected, (
        f"run {run['id']}: rows by (value, ticks, state, count) are {groups[:SHOWN]}, expected {expected}")


def assert_ticks_audited(db, run):
    with closing(psycopg2.connect(db.url)) as conn:
        violations = audit.check_ticks(conn, [run["id"]], run["tick_ms"])
    assert not violations, f"{len(violations)} tick audit violations:\n" + "\n".join(map(str, violations[:SHOWN]))


def assert_no_restarts(db, run_ids):
    bad = db.fetch_all("SELECT id, run_id, state, restarts FROM rows WHERE run_id = ANY(%s)"
                       " AND (restarts > 0 OR state = 'failed') ORDER BY id", (list(run_ids),))
    restarts = sum(row[3] for row in bad)
    assert not bad, (f"{len(bad)} rows were restarted ({restarts} restarts) or failed because of the fault;"
                     f" some (id, run, state, restarts): {bad[:SHOWN]}")


def assert_messages_exact(db, ops, ledger_rows):
    """Accepted: removed from the inbox exactly once; order: by id within a row (one sender per row, one
    message at a time); effect: a row's value is its start plus its accepted messages plus some of those
    whose outcome is unknown, each once (powers of four: a doubled one leaves a bit no message has)."""
    rows = list(ledger_rows)
    with closing(psycopg2.connect(db.url)) as conn:
        applied = audit.applied_messages(conn, rows)
        violations = audit.check_messages_once(conn, rows) + audit.check_message_order(conn, rows)
    removed = defaultdict(int)
    for removals in applied.values():
        for removal in removals:
            removed[removal["message_id"]] += 1
    accepted = [op for op in ops if op.outcome == "accepted"]
    not_once = [(op.row_id, op.message_id, removed[op.message_id]) for op in accepted if removed[op.message_id] != 1]
    assert not not_once, (f"{len(not_once)} of {len(accepted)} accepted messages were not applied exactly once"
                          f" (row, message id, times applied): {not_once[:SHOWN]}")
    assert not violations, f"{len(violations)} message audit violations:\n" + "\n".join(
        map(str, violations[:SHOWN]))
    _assert_values_add_up(db, ops, rows)


def _assert_values_add_up(db, ops, rows):
    accepted, unknown = defaultdict(int), defaultdict(int)
    for op in ops:
        if op.kind in ("cast", "call") and op.outcome in ("accepted", "unknown"):
            (accepted if op.outcome == "accepted" else unknown)[op.row_id] += op.by
    values = dict(db.fetch_all("SELECT id, value FROM rows WHERE id = ANY(%s)", (rows,)))
    wrong = []
    for row_id in rows:
        extra = values[row_id] - LEDGER_START_VALUE - accepted[row_id]
        if extra < 0 or extra | unknown[row_id] != unknown[row_id]:  # extra: a sum of some unknown powers
            wrong.append((row_id, values[row_id], accepted[row_id], unknown[row_id]))
    assert not wrong, (f"{len(wrong)} rows' values are not start + accepted messages (+ some unknown ones),"
                       f" each once (row, value, accepted sum, unknown bits): {wrong[:SHOWN]}")


def assert_no_internal_errors(ops):
    errors = [op for op in ops if op.outcome == "error"]
    assert not errors, f"{len(errors)} requests got an answer the API does not promise:\n" + "\n".join(
        str(op) for op in errors[:SHOWN])


def assert_few_tracebacks(instances, allowed=TRACEBACKS_PER_FAULT):
    found = [(getattr(instance, "name", "service"), error) for instance in instances
             for error in tracebacks(instance.log())]
    assert len(found) <= allowed, (f"{len(found)} tracebacks in the service's logs (at most {allowed} per fault);"
                                   f" the first ones (instance, exception): {found[:SHOWN]}")


def tracebacks(log):
    """The exception line ending each traceback in a log."""
    lines = log.splitlines()
    errors = []
    for start, line in enumerate(lines):
        if line.startswith("Traceback"):
            end = next((n for n in range(start + 1, len(lines)) if not lines[n].startswith(" ")), None)
            errors.append(lines[end] if end is not None else "(cut short)")
    return errors


def assert_quick_503s(ops, down_from, down_until):
    """Requests sent while the database was down: each answered within OUTAGE_ANSWER_S, with a 503 (or, if
    the server was back before the answer, what it would have answered then); never a hang or a 500."""
    during = [op for op in ops if down_from <= op.started <= down_until]
    assert during, "no request was sent while the database was down: the outage was not measured"
    slow = [op for op in during if op.latency_s > OUTAGE_ANSWER_S]
    wrong = [op for op in during if op.outcome not in ("refused", "accepted", "ok")
             or (op.outcome != "refused" and op.started + op.latency_s < down_until)]
    shown = slow + [op for op in wrong if op not in slow]
    assert not shown, (
        f"of {len(during)} requests sent while the database was down, {len(slow)} took over {OUTAGE_ANSWER_S} s"
        f" and {len(wrong)} got no 503:\n" + "\n".join(str(op) for op in shown[:SHOWN]))
    return during
