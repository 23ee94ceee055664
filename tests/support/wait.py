"""Polling with a deadline: the only way tests wait for something to happen."""
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
