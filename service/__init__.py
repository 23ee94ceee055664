"""The HTTP layer: create_app(node) wires blueprints, error handlers and limits to one node."""
from flask import Flask

from service import auth, dashboard, dead_letters, health, meta, nodes, row_events, rows, runs, telemetry
from service.context import NODE_KEY, current_node
from service.errors import register_error_handlers
from service.request_timing import register_request_timing
from service.validation import MAX_BODY_BYTES, IdConverter, refuse_unknown_query_parameters

__all__ = ["create_app", "current_node"]


def create_app(node):
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    app.extensions[NODE_KEY] = node
    app.url_map.converters["id"] = IdConverter  # before any rule that uses it
    register_error_handlers(app)
    register_request_timing(app)
    auth.init_app(app, node.settings)
    app.before_request(refuse_unknown_query_parameters)
    for blueprint in (runs.bp, rows.bp, row_events.bp, dead_letters.bp, health.bp, meta.bp, nodes.bp, telemetry.bp,
                      dashboard.bp):
        app.register_blueprint(blueprint)
    return app
