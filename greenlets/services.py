"""The node's own long-lived greenlets (tick writers, lease keeper, listener, monitors, the row
supervisor) under one supervisor: a child that raises is logged and started again, after a delay that
grows with consecutive failures and starts over once the child has run for a while (as OTP's restart
intensity forgets old crashes).
"""
import logging
import time

import gevent

log = logging.getLogger(__name__)

SERVICE_RESTART_DELAYS_S = (0.1, 0.5, 1.0, 2.0, 5.0)
# A child that ran this long before it raised is restarted after the first delay again.
SERVICE_HEALTHY_AFTER_S = 10.0


class ServiceSupervisor:
    """Starts the node's long-lived greenlets and restarts any that raises."""

    def __init__(self, telemetry):
        self._telemetry = telemetry
        self._children = {}
        self.stopping = False

    def start_child(self, name, target, *args):
        self._spawn(name, target, args, attempt=0)

    def __len__(self):
        return len(self._children)

    def is_running(self, name):
        child = self._children.get(name)
        return child is not None and not child[2].dead

    def _spawn(self, name, target, args, attempt, delay=0.0):
        greenlet = gevent.spawn_later(delay, target, *args) if delay else gevent.spawn(target, *args)
        greenlet.name = name
        greenlet.crash_is_logged = True  # _on_exit logs it: the hub need not print it (hub_watch)
        self._children[name] = (target, args, greenlet, attempt, time.monotonic() + delay)
        greenlet.rawlink(self._on_exit)

    def _on_exit(self, greenlet):
        child = self._children.get(greenlet.name)
        if child is None or child[2] is not greenlet:
            return
        if self.stopping or greenlet.successful():
            del self._children[greenlet.name]
            return
        target, args, _, attempt, started = child
        if time.monotonic() - started >= SERVICE_HEALTHY_AFTER_S:
            attempt = 0
        delay = SERVICE_RESTART_DELAYS_S[min(attempt, len(SERVICE_RESTART_DELAYS_S) - 1)]
        log.error("greenrow.service.restart name=%s error=%r restart_in=%ss",
                  greenlet.name, greenlet.exception, delay)
        self._telemetry.bump("service_restarts")
        self._spawn(greenlet.name, target, args, attempt + 1, delay)

    def stop_child(self, name, timeout_s=5):
        child = self._children.pop(name, None)
        if child is not None:
            child[2].kill(block=True, timeout=timeout_s)

    def stop(self, timeout_s=5):
        self.stopping = True
        greenlets = [child[2] for child in self._children.values()]
        gevent.killall(greenlets, block=True, timeout=timeout_s)
        self._children.clear()
