"""greenlets/rows/tick_clock.py: wake-ups are never early, come in the order they were set within a
millisecond, and a cancelled one is forgotten at once (its server is not kept alive)."""
import gc
import time
import weakref

import gevent

from greenlets.event_wait import wait
from greenlets.rows.tick_clock import TickClock


class Server:
    def __init__(self, name, woken):
        self.name, self.woken = name, woken

    def tick_is_due(self):
        self.woken.append((self.name, time.monotonic()))


def test_wake_ups_come_at_or_after_their_due_time_in_due_order():
    clock, woken, due = TickClock(), [], {}
    now = time.monotonic()
    for number in range(300):
        name = f"s{number}"
        due[name] = now + 0.002 + (number % 30) * 0.003  # 30 due times, 10 servers each
        clock.set(Server(name, woken), due[name])
    deadline = time.monotonic() + 5
    while len(woken) < 300 and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert len(woken) == 300
    assert all(at >= due[name] for name, at in woken), "a wake-up came before its due time"
    order = [due[name] for name, _ in woken]
    assert order == sorted(order)
    assert len(clock) == 0


def test_servers_due_in_the_same_millisecond_share_one_timer_and_keep_their_order():
    clock, woken = TickClock(), []
    due = time.monotonic() + 0.01
    keys = {clock.set(Server(f"s{number}", woken), due) for number in range(50)}
    assert len(keys) == 1 and len(clock._due) == 1
    deadline = time.monotonic() + 5
    while len(woken) < 50 and time.monotonic() < deadline:
        gevent.sleep(0.005)
    assert [name for name, _ in woken] == [f"s{number}" for number in range(50)]


def test_a_cancelled_wake_up_never_comes_and_does_not_keep_its_server():
    clock, woken = TickClock(), []
    kept, cancelled = Server("kept", woken), Server("cancelled", woken)
    due = time.monotonic() + 0.02
    clock.set(kept, due)
    key = clock.set(cancelled, due)
    clock.cancel(cancelled, key)
    gone = weakref.ref(cancelled)
    del cancelled
    gc.collect()
    assert gone() is None, "the clock still holds a cancelled server"
    hourly = Server("hourly", woken)
    clock.cancel(hourly, clock.set(hourly, time.monotonic() + 3600))
    assert len(clock._due) == 1, "a millisecond with nothing left due kept its timer"
    done = gevent.event.Event()
    gevent.spawn_later(0.2, done.set)
    wait(done, 5)
    assert [name for name, _ in woken] == ["kept"]
