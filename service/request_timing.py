"""Every HTTP request's duration, by route (the URL rule, not the path: bounded label values), method
and status, into the node's telemetry; and how many are in progress (the "request" greenlets)."""
import time

from flask import g, request

from service.context import current_node

UNMATCHED = "unmatched"  # no route (404), or a method the route does not take (405)


def register_request_timing(app):
    app.before_request(_started)
    app.after_request(_finished)
    app.teardown_request(_ended)


def _started():
    g.greenrow_started = time.monotonic()
    current_node().telemetry.http_in_flight += 1


def _finished(response):
    started = g.get("greenrow_started")
    if started is not None:
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        current_node().telemetry.http_request(route, request.method, response.status_code,
                                              (time.monotonic() - started) * 1000.0)
    return response


def _ended(_error):
    if g.pop("greenrow_started", None) is not None:
        current_node().telemetry.http_in_flight -= 1
