"""The checker: reads the database, the audit and the history, and lists every broken invariant.

    ticks       spacing, numbering, fencing, every row of every run done at 0 with start_value/step ticks
    runs        every ticking run finished; no row failed (no fault may fail a row)
    messages    per row applied in arrival (id) order, each at most once, every acknowledged one applied
    ledger      each ledger row's value is exactly the sum of the casts applied to it: every acknowledged
                cast in it, no refused (503) one, each unknown one at most once, nothing else
    reads       a read never shows a cast that had not been sent yet
    HTTP        no 5xx but 503 (the load balancer's 502/504 only while a fault could cut a request off)
    cap         the sampler never saw more active rows than max_concurrency
    recovery    per fault: seconds from its end until every row ticking at its start ticked again and a
                request succeeded again (a figure, not an invariant)
"""
from dataclasses import dataclass, field
from datetime import datetime, timezone

from chaos import audit
from chaos.injectors import DROPS_REQUESTS
from chaos.violations import Violation, clock
from chaos.workload import LEDGER_START

RESUME_WINDOW_S = 120.0


@dataclass
class Findings:
    violations: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    recoveries: list = field(default_factory=list)   # (Fault, seconds or None)

    def add(self, violations):
        self.violations += violations

    def count(self, *invariants):
        return sum(1 for v in self.violations if v.invariant in invariants)


def check_everything(conn, *, runs, tick_ms, ledger, operations, sampler, faults, log_lines=()):
    """runs: the ticking runs (dicts from the API, with id and status); ledger: (first_row_id, rows)."""
    findings = Findings()
    finished = [run["id"] for run in runs if run["status"] == "done"]
    findings.add(Violation("run_not_finished", f"run {run['id']} is {run['status']}: {run.get('active')} active, "
                           f"{run.get('pending')} pending, {run.get('failed')} failed")
                 for run in runs if run["status"] != "done")
    findings.add(audit.check_ticks(conn, finished, tick_ms))
    messaged = sorted({op.row_id for op in operations if op.kind != "read"})
    findings.add(audit.check_message_order(conn, messaged))
    findings.add(audit.check_messages_once(conn, messaged))
    applied = audit.applied_messages(conn, messaged)
    findings.add(check_acknowledged_messages(operations, applied))
    findings.add(check_ledger(operations, applied, ledger_values(conn, ledger)))
    findings.add(check_reads(operations))
    findings.add(check_http(operations, faults))
    findings.add(check_cap(sampler))
    findings.recoveries = recoveries(conn, faults, operations, tick_ms)
    findings.figures = figures(operations, sampler, faults, log_lines)
    findings.figures["ticks_on_expired_lease"] = audit.ticks_on_expired_lease(conn, finished)
    findings.figures["row_restarts"] = audit.row_restarts(conn, [run["id"] for run in runs])
    return findings


def ledger_values(conn, ledger):
    first, rows = ledger
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id, value FROM rows WHERE id BETWEEN %s AND %s", (first, first + rows - 1))
        return dict(cur.fetchall())


def check_acknowledged_messages(operations, applied):
    """Every message the service acknowledged (with its id) was applied: none lost, none left queued."""
    applied_ids = {record["message_id"] for records in applied.values() for record in records}
    return [Violation("lost_message", f"{op.kind} message {op.message_id} to row {op.row_id} acknowledged "
                                      f"({op.status}) at {clock(op.end)} was never applied")
            for op in operations
            if op.kind != "read" and op.outcome == "accepted" and op.message_id not in applied_ids]


def check_ledger(operations, applied, values):
    """Each ledger row's value against the casts sent to it, the history's outcomes and the message audit."""
    violations = []
    sent = {}
    for op in operations:
        if op.incr is not None:
            sent.setdefault(op.row_id, {})[op.incr] = op
    for row_id, casts in sorted(sent.items()):
        added = [record["body"].get("by") for record in applied.get(row_id, []) if record["type"] == "incr"]
        for incr in {incr for incr in added if added.count(incr) > 1}:
            violations.append(Violation("duplicated_cast", f"row {row_id}: cast +{incr} applied {added.count(incr)} "
                                                           f"times ({_op(casts.get(incr))})"))
        for incr in set(added) - set(casts):
            violations.append(Violation("phantom_cast", f"row {row_id}: +{incr} applied but never sent"))
        for incr, op in sorted(casts.items()):
            if op.outcome == "accepted" and incr not in added:
                violations.append(Violation("lost_cast", f"row {row_id}: +{incr} acknowledged, not applied ({_op(op)})"))
            if op.outcome == "refused" and incr in added:
                violations.append(Violation("refused_cast_applied", f"row {row_id}: +{incr} answered 503, "
                                                                    f"yet applied ({_op(op)})"))
        expected = LEDGER_START + sum(set(added))
        if values.get(row_id) != expected:
            violations.append(Violation("ledger_value", f"row {row_id}: value {values.get(row_id)}, expected {expected} "
                                                        f"from the applied casts (an effect without its removal "
                                                        f"from the inbox, or the reverse)"))
    return violations


def check_reads(operations):
    """A read (or a call's reply) shows only casts already sent to its row, and a call sees its own cast."""
    sent_at = {}
    for op in operations:
        if op.incr is not None:
            sent_at[(op.row_id, op.incr)] = op.start
    violations = []
    for op in operations:
        if op.value is None:
            continue
        for bit in _bits(op.value - LEDGER_START):
            if sent_at.get((op.row_id, bit), float("inf")) > op.end:
                violations.append(Violation("phantom_read", f"{op.kind} of row {op.row_id} at {clock(op.end)} saw +{bit}, "
                                                            f"not sent by then (value {op.value})"))
        if op.kind == "call" and op.status == 200 and not op.value & op.incr:
            violations.append(Violation("call_reply", f"call +{op.incr} to row {op.row_id}: reply value {op.value} "
                                                      f"lacks its own cast"))
    return violations


def check_http(operations, faults):
    """No 5xx but 503; the load balancer's 502/504 only while a fault could cut the request off."""
    windows = [(f.started_at, f.ended_at + 1.0) for f in faults if f.kind in DROPS_REQUESTS]
    violations = []
    for op in operations:
        gateway = op.outcome == "unknown" and op.status in (502, 504)
        cut_off = gateway and any(op.start <= end and op.end >= start for start, end in windows)
        if op.outcome == "error" or op.status == 500 or (op.status or 0) >= 500 and op.status != 503 and not cut_off:
            violations.append(Violation("http_5xx" if (op.status or 0) >= 500 else "http_error", _op(op)))
    return violations


def check_cap(sampler):
    """Every sample of a run's active rows stayed within its max_concurrency."""
    worst = {}
    for at, run_id, active, cap in sampler.breaches:
        if active > worst.get(run_id, (0, 0, 0))[1]:
            worst[run_id] = (at, active, cap)
    return [Violation("cap_breach", f"run {run_id}: {active} rows active at {clock(at)}, max_concurrency {cap} "
                                    f"({sum(1 for b in sampler.breaches if b[1] == run_id)} samples over the cap)")
            for run_id, (at, active, cap) in sorted(worst.items())]


def recoveries(conn, faults, operations, tick_ms):
    """(fault, seconds from its end until every row ticking at its start ticked again and a request
    succeeded again); None when neither could be seen."""
    found = []
    for fault in faults:
        healed = fault.ended_at
        resume_s, _ = audit.tick_recovery(conn, _timestamp(fault.started_at), _timestamp(healed), tick_ms)
        answered = [op.end - healed for op in operations
                    if op.outcome == "accepted" and op.start >= healed and op.end - healed < RESUME_WINDOW_S]
        seen = [s for s in (resume_s, min(answered, default=None)) if s is not None]
        found.append((fault, max(seen) if seen else None))
    return found


def figures(operations, sampler, faults, log_lines):
    by_outcome = {}
    for op in operations:
        by_outcome[op.outcome] = by_outcome.get(op.outcome, 0) + 1
    faults_by_kind = {}
    for fault in faults:
        faults_by_kind[fault.kind] = faults_by_kind.get(fault.kind, 0) + 1
    return {"operations": len(operations), "outcomes": by_outcome, "faults": faults_by_kind,
            "samples": sampler.samples, "peak_active": dict(sampler.peak),
            "tracebacks": sum(1 for line in log_lines if line.startswith("Traceback"))}


def _bits(value):
    return [1 << i for i in range(value.bit_length()) if value >> i & 1]


def _timestamp(wall):
    return datetime.fromtimestamp(wall, tz=timezone.utc)


def _op(op):
    if op is None:
        return "no such operation"
    return (f"{op.kind} row={op.row_id} incr={op.incr} {clock(op.start)}-{clock(op.end)} status={op.status} "
            f"code={op.code} outcome={op.outcome} message_id={op.message_id}")
