"""Polling with a deadline: the only way tests wait for something to happen (or check that it lasts)."""
import time


class WaitTimeout(AssertionError):
    pass


def wait_until(predicate, timeout=10.0, interval=0.05, message=None):
    """Call predicate until it returns something truthy; return that, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise WaitTimeout(message or f"condition not met within {timeout} s (last value: {last!r})")
        time.sleep(interval)


def assert_holds(predicate, seconds, interval=0.05):
    """predicate stays true for the whole period (an assertion over time, not a wait for something)."""
    deadline = time.monotonic() + seconds
    while True:
        assert predicate()
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)
