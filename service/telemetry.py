"""/metrics (this instance's telemetry, Prometheus text format) and /stats (every node's, JSON)."""
from flask import Blueprint, Response

from greenlets.telemetry.prometheus import CONTENT_TYPE
from service.context import current_node
from service.validation import query_param, takes_query

bp = Blueprint("telemetry", __name__)


@bp.get("/metrics")
def metrics():
    """Answered whichever worker takes it, and while the node starts, drains or has lost the database."""
    return Response(current_node().prometheus_exposition(), content_type=CONTENT_TYPE)


@bp.get("/stats")
@takes_query("histograms")
def stats():
    return current_node().cluster_stats(histograms=bool(query_param("histograms")))
