"""The chaos run's table and its violation lines, as printed at the end of a run."""
import statistics

from chaos.violations import clock

LISTED_PER_INVARIANT = 20

# The table's invariant rows: a label and the violation kinds it counts.
TALLIES = [
    ("lost", ("lost_cast", "lost_message")),
    ("duplicated", ("duplicated_cast", "message_duplicated", "ledger_value", "tick_doubled")),
    ("reordered", ("message_reordered",)),
    ("cap breaches", ("cap_breach",)),
    ("ticks too close", ("tick_spacing",)),
    ("ticks outside their lease", ("tick_unfenced",)),
    ("rows not done / wrong tick count", ("row_not_done", "tick_count")),
    ("runs not finished", ("run_not_finished",)),
    ("refused yet applied", ("refused_cast_applied",)),
    ("phantom reads / casts", ("phantom_read", "phantom_cast", "call_reply")),
    ("5xx other than 503, other errors", ("http_5xx", "http_error")),
]


def render(seed, findings):
    figures = findings.figures
    lines = [f"chaos run, CHAOS_SEED={seed}", ""]
    faults = figures.get("faults", {})
    fault_text = ", ".join(f"{kind} {count}" for kind, count in sorted(faults.items())) or "none"
    outcomes = figures.get("outcomes", {})
    rows = [("faults injected", f"{sum(faults.values())} ({fault_text})"),
            ("operations", f"{figures.get('operations', 0)} ("
                           + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + ")")]
    for label, kinds in TALLIES:
        rows.append((label, str(findings.count(*kinds))))
    other = len(findings.violations) - sum(findings.count(*kinds) for _, kinds in TALLIES)
    if other:
        rows.append(("other violations", str(other)))
    rows.append(("recovery time p50 / max", _recovery(findings.recoveries)))
    rows.append(("concurrency samples", str(figures.get("samples", 0))))
    rows.append(("ticks on an expired lease, nobody else's yet", str(figures.get("ticks_on_expired_lease", 0))))
    restarts, restarted = figures.get("row_restarts", (0, 0))
    rows.append(("row restarts (rows)", f"{restarts} ({restarted})"))
    rows.append(("tracebacks in the instances' logs", str(figures.get("tracebacks", 0))))
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    lines += ["", "faults (start - end, what, recovery):"]
    lines += [f"  {clock(fault.started_at)} - {clock(fault.ended_at)}  {fault.kind}: {fault.detail}; "
              f"recovered in {_seconds(seconds)}" for fault, seconds in findings.recoveries]
    lines += _listed(findings.violations)
    lines.append("")
    lines.append(f"{len(findings.violations)} violations" if findings.violations else "no violations")
    return "\n".join(lines)


def _listed(violations):
    lines, shown = [], {}
    for violation in violations:
        shown[violation.invariant] = shown.get(violation.invariant, 0) + 1
        if shown[violation.invariant] <= LISTED_PER_INVARIANT:
            lines.append(str(violation))
    for invariant, count in shown.items():
        if count > LISTED_PER_INVARIANT:
            lines.append(f"VIOLATION {invariant}: ... and {count - LISTED_PER_INVARIANT} more")
    return [""] + lines if lines else []


def _recovery(recoveries):
    seconds = [s for _, s in recoveries if s is not None]
    if not seconds:
        return "-"
    return f"{statistics.median(seconds):.2f} s / {max(seconds):.2f} s"


def _seconds(value):
    return "-" if value is None else f"{value:.2f} s"
