"""The tick, lease and message audit: installing its triggers and checking what they recorded.

chaos/audit.sql holds the SQL (the `install` script and one named query per check, each with why it
catches the bug it targets). Every check takes a psycopg2 connection to a greenrow database on which
`install` ran before the workload, and returns a list of Violations (empty: the invariant held).
"""
from pathlib import Path

import psycopg2.extras

from chaos.violations import Violation, describe
from greenlets.db.queries import load

QUERIES = load(Path(__file__).with_name("audit.sql"))

# A row's next tick may commit this share of tick_ms early (the schedule's own jitter, the group
# commit gathering ticks for GREENROW_TICK_BATCH_MS, two commits' clock readings): 10 % of tick_ms.
TICK_GAP_TOLERANCE = 0.10


def install(conn):
    """Create (or recreate, empty) the audit tables and triggers in this database."""
    with conn, conn.cursor() as cur:
        cur.execute(QUERIES["install"])


def _fetch(conn, name, params):
    with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(QUERIES[name], params)
        return cur.fetchall()


def _report(invariant, records, keys):
    return [Violation(invariant, describe(record, keys)) for record in records]


def check_tick_spacing(conn, run_ids, tick_ms):
    """Consecutive ticks of a row are at least tick_ms apart, less the tolerance."""
    min_gap_ms = tick_ms * (1 - TICK_GAP_TOLERANCE)
    records = _fetch(conn, "ticks_too_close", {"run_ids": list(run_ids), "min_gap_ms": min_gap_ms})
    return _report("tick_spacing", records,
                   ["row_id", "tick", "gap_ms", "node_id", "prev_node_id", "prev_at", "committed_at"])


def check_tick_numbers(conn, run_ids):
    """No tick number of a row is committed twice (by two nodes or one)."""
    records = _fetch(conn, "ticks_numbered_twice", {"run_ids": list(run_ids)})
    return _report("tick_doubled", records, ["row_id", "tick", "commits", "nodes", "first_at", "last_at"])


def check_tick_fencing(conn, run_ids):
    """Every tick was committed by the shard's lease holder in its epoch (or, without epochs, before expiry)."""
    records = _fetch(conn, "ticks_outside_lease", {"run_ids": list(run_ids)})
    return _report("tick_unfenced", records,
                   ["row_id", "tick", "shard", "node_id", "writer_epoch", "lease_node_id", "lease_epoch",
                    "lease_expires_at", "statement_now", "committed_at"])


def ticks_on_expired_lease(conn, run_ids):
    """How many ticks the holder committed in its epoch past its lease's expiry (a figure, not a violation)."""
    return _fetch(conn, "ticks_on_expired_lease", {"run_ids": list(run_ids)})[0]["ticks"]


def row_restarts(conn, run_ids):
    """(restarts counted, rows restarted) over the given runs (a figure, not a violation)."""
    record = _fetch(conn, "row_restarts", {"run_ids": list(run_ids)})[0]
    return record["restarts"], record["rows"]


def check_finished_rows(conn, run_ids):
    """Every row of a finished run is done at 0 with exactly start_value/step ticks, each audited once."""
    violations = []
    for row in _fetch(conn, "ticks_per_row", {"run_ids": list(run_ids)}):
        expected = -(-row["start_value"] // row["step"])  # ceil: the last tick may take less than a step
        if row["state"] != "done" or row["value"] != 0:
            violations.append(Violation("row_not_done", describe(row, ["id", "run_id", "state", "value", "ticks",
                                                                       "restarts"])))
        elif row["ticks"] != expected or row["audited"] != row["ticks"]:
            violations.append(Violation("tick_count", describe(row, ["id", "run_id", "ticks", "audited"])
                                        + f" expected={expected}"))
    return violations


def check_message_order(conn, row_ids):
    """Each row's messages were applied in increasing id order."""
    records = _fetch(conn, "messages_out_of_order", {"row_ids": list(row_ids)})
    return _report("message_reordered", records,
                   ["row_id", "message_id", "prev_message_id", "node_id", "prev_node_id", "deleted_at",
                    "prev_deleted_at"])


def check_messages_once(conn, row_ids):
    """No message was removed from its inbox (and so applied) by two committed transactions."""
    records = _fetch(conn, "messages_applied_twice", {"row_ids": list(row_ids)})
    return _report("message_duplicated", records, ["message_id", "row_id", "removals", "nodes"])


def applied_messages(conn, row_ids):
    """row id -> the audited removals of its messages, in commit order (dicts)."""
    applied = {}
    for record in _fetch(conn, "applied_messages", {"row_ids": list(row_ids)}):
        applied.setdefault(record["row_id"], []).append(record)
    return applied


def check_ticks(conn, run_ids, tick_ms):
    """Every tick check over the given finished runs."""
    return (check_tick_spacing(conn, run_ids, tick_ms) + check_tick_numbers(conn, run_ids)
            + check_tick_fencing(conn, run_ids) + check_finished_rows(conn, run_ids))



def tick_recovery(conn, started_at, ended_at, tick_ms):
    """(seconds from a fault's end until every row ticking at its start ticked again, rows that never did)."""
    record = _fetch(conn, "tick_recovery", {"started_at": started_at, "ended_at": ended_at, "tick_ms": tick_ms})[0]
    return record["resume_s"], record["never_resumed"]
