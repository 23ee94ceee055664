"""/openapi.json: the API described (service/openapi.py)."""
from flask import Blueprint

from service.openapi import DOCUMENT

bp = Blueprint("meta", __name__)


@bp.get("/openapi.json")
def openapi():
    return DOCUMENT
