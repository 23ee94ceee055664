"""The row server: one long-lived greenlet per row, with its own inbox and its own tick.

A server launched by its run's monitor ticks at a fixed rate: every ``tick_ms`` its timer hands one
tick to the node's group-commit writer, and only when that tick has committed is the next one
scheduled (``tick_ms`` after the previous one was due, or at once if that time has passed); at 0 the server leaves normally. A server activated on demand (a message for a row with no
live server) applies the row's inbox and leaves. Messages are handled in arrival order, one transaction
each, never while the row's tick is in flight (so a server does one thing at a time, like an OTP
process). Everything that must survive is in the database; the server is a cache of its row.

Three choices keep 100,000 servers cheap (measured on CPython 3.11: a parked greenlet that has run
Python code costs about 6 KB, most of it the 16 KB frame chunk CPython gives each greenlet, of which
the first page stays resident for the greenlet's life):
- A tick does not switch into the server's greenlet: its wake-up on the node's tick clock
  (``tick_clock.py``, one libev timer per millisecond, not one per server) queues the tick, and the
  writer's result schedules the next one. The greenlet wakes only for messages and lifecycle events.
- The greenlet is made at launch and started at its first such event: a server that only ticks (the
  common case) never needs a stack, and costs about 1 KB; it also leaves (at 0, or stopped) without one.
- Once started, it parks without a Python frame: its receive loop is made of C iterators
  (``deque(takewhile(..., map(self._turn, iter(park, ...))))``). ``_turn`` is the server's one Python
  entry point: it handles what is queued and returns LEAVE to end the loop, or None to park again.
"""
import logging
import operator
import random
import time
from collections import deque
from functools import partial
from itertools import chain, takewhile

import gevent
from gevent import Greenlet, get_hub
from greenlet import greenlet as RawGreenlet

from greenlets.db.pool import UNAVAILABLE
from greenlets.rows.messages import CrashRequested
from greenlets.rows.inbox import DISCARDED, Fenced, apply_next_message, reply_for

log = logging.getLogger(__name__)

# Items a server's greenlet is woken for.
MESSAGES = "messages"        # the durable inbox has something for this row
LAUNCH = "launch"            # the monitor made this row active: start ticking
STOP = "stop"                # leave at the next turn (run stopped, shard handed back, node stopping)
REACHED_ZERO = "zero"        # the last tick took the row to 0
NOT_APPLIED = "not_applied"  # the tick was refused: the run was stopped or the shard lease is gone
LAUNCH_OVERDUE = "launch_overdue"  # an on-demand server waited LAUNCH_WAIT_S for its row's launch

LEAVE = object()
_NEVER = object()
_STILL_SERVING = partial(operator.is_not, LEAVE)

FIRST_TICK_JITTER_S = 0.05
# A row's ticks are at least this share of tick_ms apart: the schedule is a fixed rate (lateness does
# not add up), but after a tick later than the rest of tick_ms allows (a database outage, a stall),
# the next one is put back rather than sent at once to catch up.
MIN_TICK_SPACING = 0.92  # (the chaos audit checks 0.9: a margin for the clocks of two processes)
# A server whose inbox could not be read (the database is unavailable) tries again this much later.
INBOX_RETRY_S = 0.5
# An on-demand server whose message found its row active (this node's monitor claimed it meanwhile)
# waits this long for the launch before it leaves.
LAUNCH_WAIT_S = 5.0


class RunInfo:
    """What a row server needs of its run; shared by all its row servers."""

    __slots__ = ("id", "step", "tick_s")

    def __init__(self, run_id, step, tick_ms):
        self.id = run_id
        self.step = step
        self.tick_s = tick_ms / 1000.0


class RowServer(Greenlet):
    __slots__ = ("node", "row_id", "run_info", "launched", "row_value", "paused", "epoch", "next_due",
                 "exit_reason", "_items", "_parked", "_started", "_wake_scheduled", "_tick_in_flight", "_tick_due",
                 "_timer", "_retry", "_left_mid_inbox", "_launch_wait")

    def __init__(self, node, row_id, run, launched, row_value, paused, epoch, check_inbox=False, since_tick_s=None):
        Greenlet.__init__(self)  # its run callable is made when it first starts (see _wake)
        self.node = node
        self.row_id = row_id
        self.run_info = run
        self.launched = launched
        self.row_value = row_value
        self.paused = paused
        self.epoch = epoch  # the lease epoch this server writes under (fencing)
        self.next_due = None
        self.exit_reason = None
        self._items = [MESSAGES] if check_inbox or not launched else []
        self._parked = True  # idle: not running a turn (not even started yet)
        self._started = False
        self._wake_scheduled = False
        self._tick_in_flight = False
        self._tick_due = False
        self._timer = None
        self._retry = None
        self._left_mid_inbox = False
        self._launch_wait = None  # the timer of a wait for the row's launch (see _wait_for_launch)
        if launched:
            self._schedule_tick(first=True, since_tick_s=since_tick_s)

    crash_is_logged = True  # by its supervisor (RowSupervisor): gevent's hub does not print it (hub_watch)

    def __str__(self):
        run_id = self.run_info.id if self.run_info else None
        return f"<RowServer row={self.row_id} run={run_id} value={self.row_value}>"

    __repr__ = __str__  # gevent's own repr names the callable made at start: a functools.partial of a deque

    # --- public API ---------------------------------------------------------------------------

    def begin(self):
        """Make the server live: it ticks on its timer and starts its greenlet at its first event."""
        self._wake_soon()

    def notify_messages(self):
        self._post(MESSAGES)

    def launch(self, run, row_value, paused, epoch, since_tick_s=None):
        """The monitor claimed this row while the server was live on demand: it starts ticking. It is
        launched from now on, not from when its greenlet handles LAUNCH: the row is active, and if the
        server ends first (a crash on a message queued ahead), its supervisor must restart it ticking
        and its exit must give back the run's slot."""
        self.launched = True
        self.run_info = run
        self.epoch = epoch
        if self.row_value is None:  # nothing applied yet; otherwise its own values are the newer ones
            self.row_value, self.paused = row_value, paused
        self._post(LAUNCH)

    def stop(self):
        if self._tick_in_flight:
            self._post(STOP)  # handled once the tick's answer is in
        else:
            self._end(STOP, "stopped")

    def tick_committed(self, applied, committed_at):
        """The group writer's answer for this server's tick: applied (value - step, at least 0) or not."""
        self._tick_in_flight = False
        if self.dead:
            return
        self.node.telemetry.tick_lateness.record((committed_at - self.next_due) * 1000.0)
        if not applied:
            self._end(NOT_APPLIED, "stopped")
            return
        value = self.row_value - self.run_info.step
        self.row_value = value = value if value > 0 else 0
        if value == 0:
            self._end(REACHED_ZERO, "done")
            return
        self._schedule_tick(following=True, answered_at=committed_at)
        if self._items:
            self._wake_soon()  # messages that waited for this tick

    def tick_failed(self, error):
        """The group commit holding this server's tick failed. The database being unavailable is not a
        crash: the tick may or may not have committed (its answer was lost), and the next one is
        scheduled as usual (a value the server thinks is above 0 but is not is refused, and the server
        leaves). Any other error crashes the server (and its supervisor restarts it)."""
        self._tick_in_flight = False
        if self.dead:
            return
        if isinstance(error, UNAVAILABLE):
            self._schedule_tick(following=True, answered_at=time.monotonic())
            self._wake_soon()
        else:
            self._post(error)

    @property
    def gone(self):
        """Ended: its greenlet is dead, or it left without ever starting one."""
        return self.dead or (self.exit_reason is not None and not self._started)

    def _end(self, item, reason):
        """The server's last event: a server whose greenlet never started (one that only ticked, the
        common case) and has nothing else queued leaves at once, without ever making a stack, and tells
        its supervisor itself (what its greenlet's end would have done: a gevent kill of a greenlet
        that never ran costs about 3 us, a tenth of a tick's cost). Otherwise the event is queued
        behind the others."""
        if self._started or self._items:
            self._post(item)
            return
        self._leave(reason)
        self.node.supervisor.left(self)

    # --- waking the greenlet ----------------------------------------------------------------------

    def _post(self, item):
        self._items.append(item)
        self._wake_soon()

    def _wake_soon(self):
        if self._parked and self._items and not self._tick_in_flight and not self._wake_scheduled:
            self._wake_scheduled = True
            get_hub().loop.run_callback(self._wake)

    def _wake(self):
        # A hub callback: start the greenlet, or switch into it where it parked; either runs one _turn.
        self._wake_scheduled = False
        if self._parked and self._items and not self._tick_in_flight and not self.dead:
            self._parked = False
            if self._started:
                self.switch(None)
            else:
                self._started = True
                park = partial(RawGreenlet.switch, get_hub())
                turns = map(self._turn, chain((None,), iter(park, _NEVER)))
                self._run = partial(deque, takewhile(_STILL_SERVING, turns), 0)
                self.start()

    # --- one turn of the greenlet (its only Python frame) ---------------------------------------

    def _turn(self, _ignored):
        self._parked = False
        try:
            reason = self._handle_items()
        except Fenced:
            log.debug("row %s: shard lease lost, server leaves", self.row_id)
            self.node.telemetry.bump("messages_fenced")
            reason = "fenced"
        except UNAVAILABLE as exc:  # the inbox could not be read or applied: not a crash, try again soon
            self.node.database.failed("message", exc)
            self._retry_inbox_later()
            reason = None
        except BaseException:
            self._unregister()
            raise
        if reason is not None:
            self._leave(reason)
            return LEAVE
        if self._tick_due and self._ticking():
            self._submit_tick()
        self._parked = True
        return None

    def _handle_items(self):
        """Handle everything queued; a reason to leave, or None to park."""
        while self._items:
            item = self._items.pop(0)
            if item is MESSAGES:
                reason = self._drain_inbox()
                if reason is not None:
                    self._left_mid_inbox = True
                    return reason
            elif item is LAUNCH:
                self._end_launch_wait()
                if not self.row_value:
                    return "done"  # a message took the row to 0 after the monitor claimed it
                self._schedule_tick(first=True)
            elif item is REACHED_ZERO:
                return "done"
            elif item is STOP or item is NOT_APPLIED:
                return "stopped"
            elif item is LAUNCH_OVERDUE:
                self._end_launch_wait()
                if not self.launched:
                    return "drained"
            elif isinstance(item, BaseException):
                raise item
        return None if self.launched or self._launch_wait is not None else "drained"

    def _wait_for_launch(self):
        """An on-demand server with its inbox drained leaves, unless a message it applied found the row
        active: this node's monitor claimed the row after the message's apply began and will launch it
        (the claim's result may not have reached the monitor yet). Leaving then would let the launch
        start a new server from the claim's values, from before that message: its value off by the
        message's effect (a server ticking down from a value the row no longer has leaves at its own 0
        with the row still active, as if orphaned). Waiting, this server gets the launch and keeps its
        own, newer values (``launch``). A launch that never comes (the monitor stopped) ends the wait
        after LAUNCH_WAIT_S, and the monitor's orphan check then hands the row back to pending."""
        if self._launch_wait is None:
            self._launch_wait = get_hub().loop.timer(LAUNCH_WAIT_S)
            self._launch_wait.start(self._post, LAUNCH_OVERDUE)

    def _end_launch_wait(self):
        if self._launch_wait is not None:
            self._launch_wait.close()
            self._launch_wait = None

    def _leave(self, reason):
        self.exit_reason = reason
        self._unregister()
        if reason != "fenced" and (self._left_mid_inbox or MESSAGES in self._items):
            self.node.deliver(self.row_id)  # messages came after the one that ended this server

    def _retry_inbox_later(self):
        if self._retry is None:
            self._retry = get_hub().loop.timer(INBOX_RETRY_S)
            self._retry.start(self._retry_inbox)

    def _retry_inbox(self):
        self._retry.close()
        self._retry = None
        if not self.dead:
            self._post(MESSAGES)

    def _unregister(self):
        if self._retry is not None:
            self._retry.close()
            self._retry = None
        self._end_launch_wait()
        self._cancel_timer()
        self.node.registry.remove(self)

    # --- ticks ----------------------------------------------------------------------------------

    def _ticking(self):
        return self.launched and not self.paused and self.row_value

    def _schedule_tick(self, first=False, following=False, answered_at=None, since_tick_s=None):
        """Set the timer for the next tick: ``tick_ms`` after the previous tick was due (a fixed rate,
        so lateness does not add up), but never less than MIN_TICK_SPACING of tick_ms after the previous
        tick's answer (``answered_at``); or, when ticking (re)starts, ``tick_ms`` after now, or after
        the row's last tick ``since_tick_s`` ago (a row handed over from another node keeps its
        schedule). It is only ever set once the previous tick has committed (or failed), so a late
        tick is followed by the next one, never by two."""
        if not self._ticking():
            self.next_due = None
            self._tick_due = False
            self._cancel_timer()
            return
        tick_s = self.run_info.tick_s
        if following and self.next_due is not None:
            self.next_due += tick_s
            if answered_at is not None:
                self.next_due = max(self.next_due, answered_at + tick_s * MIN_TICK_SPACING)
        else:
            jitter = random.uniform(0, min(FIRST_TICK_JITTER_S, tick_s / 10)) if first else 0.0
            # A handed-over row: due tick_ms after its last tick, but never sooner than MIN_TICK_SPACING
            # of tick_ms after the claim. Its last tick committed before the claim (fencing), but
            # last_tick_at is when its batch updated the row, and the batch committed later, by up to the
            # batch's duration (a few hundred ms seen under faults): only the claim bounds that commit.
            wait_s = tick_s if since_tick_s is None else max(tick_s - since_tick_s, tick_s * MIN_TICK_SPACING)
            self.next_due = time.monotonic() + wait_s + jitter
        self._cancel_timer()
        self._timer = self.node.tick_clock.set(self, self.next_due)

    def _cancel_timer(self):
        if self._timer is not None:
            self.node.tick_clock.cancel(self, self._timer)
            self._timer = None

    def tick_is_due(self):
        # Called by the node's tick clock (a hub callback). A busy greenlet (applying messages) submits
        # the tick when its turn ends.
        self._timer = None
        if self.dead or self._tick_in_flight:
            return
        if self._parked:
            self._submit_tick()
        else:
            self._tick_due = True

    def _submit_tick(self):
        self._tick_due = False
        self._tick_in_flight = True
        self.node.tick_writer.submit(self)

    # --- messages -------------------------------------------------------------------------------

    def _drain_inbox(self):
        """Apply every message waiting in the row's inbox, oldest first; a reason to leave, or None."""
        while True:
            # Whether the server was launched when the apply began: the monitor may claim the row and
            # launch this server while the apply waits on the database, and the row the apply returns is
            # then from before the claim (pending, not active). That is no reason to leave: the server
            # starts ticking at the LAUNCH queued behind this message (leaving would orphan the row).
            launched = self.launched
            applied = apply_next_message(self.node, self.row_id, self.epoch)
            if applied is None:
                return None
            if applied is DISCARDED:
                continue
            row = applied.row
            self.row_value = row["value"]
            self.paused = row["paused"]
            self.node.telemetry.message(applied.type, "applied")
            if self.node.row_events.watched(self.row_id):
                self.node.row_events.publish(self.row_id, {
                    "type": "message", "message": applied.type, "message_id": applied.message_id,
                    "value": row["value"], "paused": row["paused"], "state": row["state"]})
            if applied.reply_to:
                self.node.router.reply(applied.reply_to, reply_for(applied, self.node.id))
            if applied.type == "crash":
                raise CrashRequested(f"crash requested by message {applied.message_id} for row {self.row_id}")
            if launched and row["state"] != "active":
                return "done" if self.row_value == 0 else "stopped"
            if not self.launched and row["state"] == "active":
                self._wait_for_launch()
            if self.paused or self.next_due is None:
                self._schedule_tick()
            if not applied.more:
                return None  # a message committed after this one comes with its own wake-up


def stop_all(servers, timeout_s):
    """Ask servers to leave (after their tick in flight) and wait; kill the ones still there after ``timeout_s``."""
    servers = [server for server in servers if not server.gone]
    for server in servers:
        server.stop()
    servers = [server for server in servers if not server.gone]  # (most leave at once, never started)
    gevent.joinall(servers, timeout=timeout_s)
    gevent.killall([server for server in servers if not server.gone], block=True, timeout=timeout_s)
