"""What must hold after a fault, each check failing with what it saw (the chaos checker's where it has one).

    assert_run_exact            every row of the run done at 0 with exactly start_value ticks
    assert_ticks_audited        the chaos audit's tick checks: spaced, numbered once, fenced, all there
    assert_no_restarts          no row failed, no restart counted (the tests crash nothing on purpose)
    assert_messages_exact       every acknowledged message applied once, in arrival order, with its exact effect
    assert_http_as_promised     no 500, no 5xx but 503 (a load balancer's 502/504 only while a request could be cut)
    assert_few_tracebacks       the logs tell the fault in a few lines, not a traceback per row server
    assert_quick_503s           every request sent while the database was down got a 503 within a second
    assert_answered_within      every request sent during a fault was answered (503 or done) within a bound
"""
from contextlib import closing

import psycopg2

from chaos import audit, checker
from chaos.violations import clock
from tests.support.logs import tracebacks

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
        _assert_none(audit.check_ticks(conn, [run["id"]], run["tick_ms"]), "tick audit violations")


def assert_no_restarts(db, run_ids):
    bad = db.fetch_all("SELECT id, run_id, state, restarts FROM rows WHERE run_id = ANY(%s)"
                       " AND (restarts > 0 OR state = 'failed') ORDER BY id", (list(run_ids),))
    restarts = sum(row[3] for row in bad)
    assert not bad, (f"{len(bad)} rows were restarted ({restarts} restarts) or failed because of the fault;"
                     f" some (id, run, state, restarts): {bad[:SHOWN]}")


def assert_messages_exact(db, ops, ledger_rows):
    """Per row in arrival (id) order, each at most once, every acknowledged one applied; each ledger row's
    value the exact sum of its acknowledged casts and some of those whose outcome is unknown."""
    messaged = sorted({op.row_id for op in ops if op.kind != "read"})
    first = ledger_rows[0]
    with closing(psycopg2.connect(db.url)) as conn:
        applied = audit.applied_messages(conn, messaged)
        violations = (audit.check_message_order(conn, messaged) + audit.check_messages_once(conn, messaged)
                      + checker.check_acknowledged_messages(ops, applied)
                      + checker.check_ledger(ops, applied, checker.ledger_values(conn, (first, len(ledger_rows))))
                      + checker.check_reads(ops))
    _assert_none(violations, f"message violations over {len(messaged)} rows and {len(ops)} operations")


def assert_http_as_promised(ops, faults):
    _assert_none(checker.check_http(ops, faults), f"answers the API does not promise, of {len(ops)} requests")


def _assert_none(violations, what):
    assert not violations, f"{len(violations)} {what}:\n" + "\n".join(map(str, violations[:SHOWN]))


def assert_few_tracebacks(instances, allowed=TRACEBACKS_PER_FAULT):
    found = [(getattr(instance, "name", "service"), error) for instance in instances
             for error in tracebacks(instance.log())]
    assert len(found) <= allowed, (f"{len(found)} tracebacks in the service's logs (at most {allowed} per fault);"
                                   f" the first ones (instance, exception): {found[:SHOWN]}")


def assert_quick_503s(ops, outage):
    """Requests sent while the database was down: each answered within OUTAGE_ANSWER_S, with a 503 (or, if
    the server was back before the answer, what it would have answered then); never a hang or a 500."""
    assert_answered_within(ops, outage, OUTAGE_ANSWER_S)


def assert_answered_within(ops, fault, seconds):
    """Requests sent during the fault: each answered within `seconds` (never a hang), with a 503, or with
    its effect if the fault was over before the answer; never a 500."""
    during = [op for op in ops if fault.started_at <= op.start <= fault.ended_at]
    assert during, f"no request was sent during the fault ({fault.kind}): it was not measured"
    slow = [op for op in during if op.end - op.start > seconds]
    wrong = [op for op in during if op.outcome != "refused" and (op.end < fault.ended_at or op.outcome != "accepted")]
    shown = slow + [op for op in wrong if op not in slow]
    assert not shown, (
        f"of {len(during)} requests sent during {fault.kind} ({clock(fault.started_at)} to {clock(fault.ended_at)}),"
        f" {len(slow)} took over {seconds} s and {len(wrong)} got no 503:\n"
        + "\n".join(f"{op.kind} row {op.row_id} at {clock(op.start)}: {op.status} {op.code} after"
                     f" {op.end - op.start:.3f} s ({op.outcome})" for op in shown[:SHOWN]))
