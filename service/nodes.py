"""/nodes: the cluster's live nodes."""
from flask import Blueprint

from service.context import current_node

bp = Blueprint("nodes", __name__)


@bp.get("/nodes")
def list_nodes():
    return {"nodes": current_node().list_nodes()}
