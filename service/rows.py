"""/rows: read a row and send messages to its row server."""
from flask import Blueprint

from service.context import current_node
from service.errors import ApiError, found
from service.idempotency import answer, request_key
from service.validation import call_options, read_message, takes_query

bp = Blueprint("rows", __name__)


@bp.get("/rows/<id:row_id>")
def get_row(row_id):
    return found(current_node().get_row(row_id), "row", row_id)


@bp.post("/rows/<id:row_id>/messages")
@takes_query("wait", "timeout_ms")
def send_message(row_id):
    wait, timeout_ms = call_options()
    message = read_message()
    if message["type"] == "crash" and not current_node().settings.fault_injection:
        raise ApiError(400, "fault_injection_disabled",
                       "crash messages are refused: the service was not started with GREENROW_FAULT_INJECTION=1")
    key = request_key(message, {"wait": wait})  # not timeout_ms: a retry may wait longer for the same call
    result, replayed = current_node().send_message(row_id, message, wait=wait, timeout_ms=timeout_ms, key=key)
    return answer(result, 200 if wait else 202, replayed)
