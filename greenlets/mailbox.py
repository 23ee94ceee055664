"""A row server's in-memory inbox: a deque and at most one parked receiver.

Cheaper than gevent.queue.Queue (no per-queue lock, no list of getters): about 1 KB less per row
server. The durable inbox is the ``messages`` table; this mailbox only carries wake-ups (TICK, a
"messages waiting" signal, STOP) to the one greenlet that owns it.
"""
from collections import deque

from gevent import get_hub
from gevent.hub import Waiter

TIMEOUT = object()


class Mailbox:
    __slots__ = ("_items", "_waiter")

    def __init__(self):
        self._items = deque()
        self._waiter = None

    def __len__(self):
        return len(self._items)

    def __contains__(self, item):
        return item in self._items

    def put(self, item):
        """Queue an item and wake the receiver; safe from any greenlet or hub callback."""
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            get_hub().loop.run_callback(waiter.switch, None)

    def get(self, timeout=None):
        """The next item, or TIMEOUT after ``timeout`` seconds (None waits for ever)."""
        while not self._items:
            waiter = Waiter()
            self._waiter = waiter
            timer = None
            if timeout is not None:
                timer = get_hub().loop.timer(max(timeout, 0.0))
                timer.start(waiter.switch, TIMEOUT)
            try:
                woke = waiter.get()
            finally:
                self._waiter = None
                if timer is not None:
                    timer.close()
            if woke is TIMEOUT and not self._items:
                return TIMEOUT
        return self._items.popleft()
