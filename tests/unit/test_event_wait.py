"""greenlets/event_wait.py: a wait on a gevent Event always returns by its timeout.

The scenario, in a process of its own (gevent's hub, unpatched time.sleep to hold it): greenlet A
waits on an event with a short timeout; greenlet B wakes up, sets the event (a wake-up of A is queued)
and waits on it at once; then A's timeout fires in the same loop iteration, before the queued wake-up
runs. gevent's own ``Event.wait`` leaves B waiting for ever (its timeout ignored): what stranded run
monitors in a soak. ``event_wait.wait`` returns."""
from tests.support.scripts import run_script

SCRIPT = """
import json, sys, time
import gevent
from gevent.event import Event
from greenlets import event_wait

def scenario(wait):
    event = Event()
    a = gevent.spawn(wait, event, 0.05)
    def b():
        gevent.sleep(0.04)
        event.set()            # A is linked: its wake-up is queued
        return wait(event, 0.5)  # set, with that wake-up still queued
    b = gevent.spawn(b)
    gevent.sleep(0)            # both started
    time.sleep(0.1)            # hold the hub past both timers: they fire in one loop iteration
    started = time.monotonic()
    gevent.joinall([a, b], timeout=2)
    return {"b_returned": b.dead, "b_value": b.value, "seconds": round(time.monotonic() - started, 3)}

which = sys.argv[1]
wait = event_wait.wait if which == "event_wait" else (lambda event, timeout: event.wait(timeout))
print(json.dumps(scenario(wait)))
"""


def test_a_wait_on_a_set_event_returns_even_when_an_earlier_waiter_times_out_before_its_wake_up():
    result = run_script(SCRIPT, "event_wait", timeout=30)

    assert result["b_returned"] and result["b_value"] is True, result
    assert result["seconds"] < 1.0, result


def test_the_scenario_is_the_one_that_strands_gevents_own_wait():
    """If this fails, gevent fixed the bug (see greenlets/event_wait.py): the helper may go."""
    result = run_script(SCRIPT, "event", timeout=30)

    assert not result["b_returned"], result
