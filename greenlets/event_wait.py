"""Waiting on a gevent Event without being stranded by a gevent bug.

In gevent (seen in 26.9.0) a greenlet that calls ``Event.wait(timeout)`` while the event is already set
*and* its wake-up of earlier waiters is still queued does not return at once: it joins that queued
wake-up, with no timer of its own. If, before the wake-up runs, the last earlier waiter leaves by its
own timeout, ``unlink`` cancels the queued wake-up (there seems to be nobody left to wake) and the
greenlet that joined it is never woken, whatever its timeout: it waits for ever.

It bit the run monitors, which all wait (0.1 s) for the tick writer to be idle: one monitor stranded
that way never claimed its run's rows again on that node (rows revived by a message stayed pending,
the run never finished). ``tests/unit/test_event_wait.py`` reproduces it.

``wait`` returns at once when the event is set (what ``Event.wait`` promises), so that path is never
taken; an unset event is waited on with its timer, which the bug does not touch.
"""


def wait(event, timeout=None):
    """``event.wait(timeout)``: True when the event is set, False when the timeout passed first."""
    if event.is_set():
        return True
    return event.wait(timeout)
