"""/healthz (the process answers) and /readyz (the node can serve)."""
from flask import Blueprint

from service.context import current_node
from service.errors import ApiError

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok", "node": current_node().id}


@bp.get("/readyz")
def readyz():
    node = current_node()
    reason = node.readiness()
    if reason is not None:
        raise ApiError(503, "unavailable", f"node {node.id} is not ready: {reason}")
    return {"status": "ready", "node": node.id}
