"""GET /dashboard: the live dashboard, a page the service serves itself (no build step).

The page and its files (service/dashboard_files: the page, its script and style, and uPlot, vendored
with its licence) hold no data and are served without a token; the page reads the protected
endpoints (/stats?histograms=1, /runs, /rows/<id>/events) with the token its user types in, kept in
the browser's session storage.
"""
from pathlib import Path

from flask import Blueprint, send_from_directory

FILES = Path(__file__).with_name("dashboard_files")
PAGE = "dashboard.html"

bp = Blueprint("dashboard", __name__)


@bp.get("/dashboard")
def page():
    return send_from_directory(FILES, PAGE, max_age=0)


@bp.get("/dashboard/<path:name>")
def file(name):
    """The page's script, style and vendored library (404 for anything else)."""
    return send_from_directory(FILES, name, max_age=300)
