"""The history checks catch what they target: a lost cast, a refused cast applied, a cast applied twice, a read
of a cast not yet sent, a 500, a breach of max_concurrency; and stay quiet on a clean history."""
from chaos.checker import check_cap, check_http, check_ledger, check_reads
from chaos.history import Operation, classify
from chaos.faults import Fault
from chaos.workload import LEDGER_START

ROW = 10


def cast(incr, outcome="accepted", status=202, start=100.0, end=100.1, message_id=None):
    return Operation("cast", ROW, incr=incr, start=start, end=end, status=status, outcome=outcome,
                     message_id=message_id or incr)


def applied(*incrs):
    return {ROW: [{"type": "incr", "body": {"by": incr}, "message_id": incr} for incr in incrs]}


def invariants(violations):
    return sorted({violation.invariant for violation in violations})


def test_a_ledger_row_holding_exactly_its_acknowledged_casts_and_some_unknown_ones_passes():
    operations = [cast(2), cast(4, outcome="unknown", status=None), cast(8, outcome="unknown", status=None),
                  cast(16, outcome="refused", status=503)]
    assert check_ledger(operations, applied(2, 8), {ROW: LEDGER_START + 2 + 8}) == []


def test_an_acknowledged_cast_missing_from_the_row_is_reported_lost():
    violations = check_ledger([cast(2), cast(4)], applied(2), {ROW: LEDGER_START + 2})
    assert invariants(violations) == ["lost_cast"] and "+4" in violations[0].detail


def test_a_cast_answered_503_yet_applied_is_reported():
    operations = [cast(2, outcome="refused", status=503)]
    assert invariants(check_ledger(operations, applied(2), {ROW: LEDGER_START + 2})) == ["refused_cast_applied"]


def test_a_cast_applied_twice_is_reported_duplicated():
    violations = check_ledger([cast(2)], applied(2, 2), {ROW: LEDGER_START + 4})
    assert invariants(violations) == ["duplicated_cast", "ledger_value"]


def test_a_value_that_is_not_the_sum_of_the_applied_casts_is_reported():
    assert invariants(check_ledger([cast(2)], applied(2), {ROW: LEDGER_START + 6})) == ["ledger_value"]


def test_a_cast_nobody_sent_is_reported():
    assert invariants(check_ledger([cast(2)], applied(2, 64), {ROW: LEDGER_START + 66})) == ["phantom_cast"]


def test_a_read_showing_a_cast_sent_after_it_is_reported():
    sent_before = cast(2, start=99.0, end=99.1)
    assert check_reads([sent_before, Operation("read", ROW, start=100.0, end=100.5, status=200,
                                               outcome="accepted", value=LEDGER_START + 2)]) == []
    read = Operation("read", ROW, start=100.0, end=100.5, status=200, outcome="accepted", value=LEDGER_START + 2 + 4)
    violations = check_reads([sent_before, cast(4, start=101.0, end=101.1), read])
    assert invariants(violations) == ["phantom_read"] and "+4" in violations[0].detail


def test_a_call_whose_reply_lacks_its_own_cast_is_reported():
    call = Operation("call", ROW, incr=2, start=100.0, end=100.1, status=200, outcome="accepted", value=LEDGER_START)
    assert invariants(check_reads([call])) == ["call_reply"]


def test_a_500_is_reported_and_a_503_is_not():
    operations = [cast(2, outcome="refused", status=503), cast(4, outcome="error", status=500)]
    violations = check_http(operations, faults=[])
    assert invariants(violations) == ["http_5xx"] and "status=500" in violations[0].detail


def test_a_load_balancer_502_is_an_unknown_outcome_only_while_a_fault_can_cut_requests_off():
    gateway = cast(2, outcome="unknown", status=502, start=100.0, end=100.2)
    kill = Fault("kill_worker", "worker 1", started_at=100.1, ended_at=100.1)
    assert check_http([gateway], faults=[kill]) == []
    assert invariants(check_http([gateway], faults=[])) == ["http_5xx"]


def test_a_call_timing_out_is_a_5xx_even_though_its_message_was_committed():
    assert classify("call", 504, {"error": {"code": "timeout"}, "message_id": 3}) == ("accepted", "timeout")
    timed_out = Operation("call", ROW, incr=2, status=504, outcome="accepted", code="timeout", message_id=3)
    assert invariants(check_http([timed_out], faults=[])) == ["http_5xx"]


class Sampled:
    samples = 3
    peak = {1: (12, 10)}
    breaches = [(100.0, 1, 11, 10), (100.1, 1, 12, 10)]


def test_a_run_seen_above_its_max_concurrency_is_reported_once_with_its_worst_sample():
    violations = check_cap(Sampled)
    assert invariants(violations) == ["cap_breach"] and len(violations) == 1
    assert "12 rows active" in violations[0].detail and "2 samples over the cap" in violations[0].detail
