"""Dead letters: a row's list, replay (back into the row's inbox) and delete."""
from flask import Blueprint

from service.context import current_node
from service.errors import ApiError, found
from service.validation import query_param, read_fields, takes_query

bp = Blueprint("dead_letters", __name__)


def _found(value, dead_letter_id):
    if value is None:
        raise ApiError(404, "dead_letter_not_found", f"dead letter {dead_letter_id} does not exist")
    return value


@bp.get("/rows/<id:row_id>/dead-letters")
@takes_query("limit")
def list_dead_letters(row_id):
    return {"dead_letters": found(current_node().dead_letters(row_id, query_param("limit")), "row", row_id)}


@bp.post("/dead-letters/<id:dead_letter_id>/replay")
def replay_dead_letter(dead_letter_id):
    read_fields({})  # no body, or an empty JSON object
    return _found(current_node().replay_dead_letter(dead_letter_id), dead_letter_id), 202


@bp.delete("/dead-letters/<id:dead_letter_id>")
def delete_dead_letter(dead_letter_id):
    return _found(current_node().delete_dead_letter(dead_letter_id), dead_letter_id)
