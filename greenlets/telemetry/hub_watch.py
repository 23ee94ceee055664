"""gevent's hub, watched: blocking events counted and logged in one line, crashes logged once.

- Blocking. gevent's monitor thread (a native thread) checks every GEVENT_MAX_BLOCKING_TIME (0.1 s)
  whether the hub switched greenlets since its last look; when it did not, the hub was blocked (a long
  stretch of CPU work, a call that blocked the whole process). gevent's own report (the greenlet
  tree, many lines) is not printed; each event is one WARNING line, ``greenrow.hub.blocked``, naming
  the greenlet that held the hub and where it was: the innermost frame of greenrow's own code and the
  innermost frame of all. It is counted in ``hub_blocked``. The monitor thread only reads the blocked
  stack; the line is logged and counted in the hub's thread (``run_callback_threadsafe``), once the
  hub runs again.
- Crashes. The hub prints a greenlet that raised as a raw traceback with the greenlet's repr.
  Greenlets whose supervisor logs their crash (row servers, the node's services: marked with
  ``crash_is_logged``) are not printed again; any other greenlet's crash is one ERROR line,
  ``greenrow.greenlet.crashed``, with its traceback.
"""
import logging
import sys
from pathlib import Path

import gevent
from gevent.events import EventLoopBlocked, subscribers

log = logging.getLogger(__name__)

REPO = str(Path(__file__).resolve().parents[2])
_OWN_CODE = tuple(f"{REPO}/{folder}/" for folder in ("greenlets", "service", "config"))


def install(telemetry):
    """Watch this process's hub (in a worker, after gevent's patching)."""
    hub = gevent.get_hub()
    hub.handle_error = _ErrorHandler(hub)
    gevent.config.monitor_thread = True
    gevent.config.print_blocking_reports = False
    subscribers.append(_BlockingListener(hub, telemetry))
    # Started from the hub itself, as gevent does: a monitor thread that finds its hub not running yet
    # (a greenlet not started is false) stops for good.
    hub.loop.run_callback(hub.start_periodic_monitoring_thread)


class _ErrorHandler:
    """hub.handle_error: gevent calls it for every greenlet that raised, and for errors of the loop."""

    def __init__(self, hub):
        self._hub = hub
        self._gevent_handler = type(hub).handle_error.__get__(hub)

    def __call__(self, context, error_type, value, tb):
        hub = self._hub
        if context is None or not isinstance(error_type, type) or issubclass(error_type, hub.SYSTEM_ERROR):
            return self._gevent_handler(context, error_type, value, tb)  # the loop's own: gevent's way
        if issubclass(error_type, hub.NOT_ERROR) or getattr(context, "crash_is_logged", False):
            return None
        try:
            log.error("greenrow.greenlet.crashed greenlet=%s error=%s", context, describe(value),
                      exc_info=(error_type, value, tb))
        except Exception:  # must not raise (gevent's contract); fall back on gevent's print
            self._gevent_handler(context, error_type, value, tb)
        return None


def describe(error):
    """An exception on one line: its type and message."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class _BlockingListener:
    """A gevent event subscriber; called in the monitor thread."""

    def __init__(self, hub, telemetry):
        self._hub = hub
        self._telemetry = telemetry

    def __call__(self, event):
        if not isinstance(event, EventLoopBlocked) or getattr(event, "hub", self._hub) is not self._hub:
            return
        frame = sys._current_frames().get(self._hub.thread_ident)
        own, innermost = _where(frame)
        del frame
        self._hub.loop.run_callback_threadsafe(self._record, str(event.greenlet), event.blocking_time, own,
                                               innermost)

    def _record(self, greenlet, blocking_time, own, innermost):
        self._telemetry.bump("hub_blocked")
        log.warning("greenrow.hub.blocked greenlet=%s blocked_over=%ss where=%s innermost=%s",
                    greenlet, blocking_time, own, innermost)


def _where(frame):
    """(the innermost frame in greenrow's own code, the innermost frame) of a stack, as file:line (function)."""
    innermost = own = None
    while frame is not None:
        code = frame.f_code
        if innermost is None:
            innermost = _frame_name(code.co_filename, frame.f_lineno, code.co_name)
        if code.co_filename.startswith(_OWN_CODE):
            own = _frame_name(code.co_filename, frame.f_lineno, code.co_name)
            break
        frame = frame.f_back
    return own or "-", innermost or "-"


def _frame_name(filename, line, function):
    shown = filename[len(REPO) + 1:] if filename.startswith(REPO + "/") else filename.rsplit("site-packages/", 1)[-1]
    return f"{shown}:{line}({function})"
