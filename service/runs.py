"""/runs: create, list, read, stop and delete runs."""
from flask import Blueprint, url_for

from service.context import current_node
from service.errors import found
from service.idempotency import answer, request_key
from service.validation import RUN_FIELDS, query_param, read_fields, takes_query

bp = Blueprint("runs", __name__)


@bp.post("/runs")
def create_run():
    params = read_fields(RUN_FIELDS)
    run, replayed = current_node().create_run(params, request_key(params))
    return answer(run, 201, replayed, {"Location": url_for(".get_run", run_id=run["id"])})


@bp.get("/runs")
@takes_query("limit")
def list_runs():
    return {"runs": current_node().list_runs(query_param("limit"))}


@bp.get("/runs/<id:run_id>")
def get_run(run_id):
    return found(current_node().get_run(run_id), "run", run_id)


@bp.post("/runs/<id:run_id>/stop")
def stop_run(run_id):
    read_fields({})  # no body, or an empty JSON object
    return found(current_node().stop_run(run_id), "run", run_id)


@bp.delete("/runs/<id:run_id>")
def delete_run(run_id):
    return found(current_node().delete_run(run_id), "run", run_id), 202
