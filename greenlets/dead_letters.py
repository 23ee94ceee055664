"""Dead letters: messages set aside instead of applied, kept with why, to be replayed or dropped.

A message goes there in two ways, and the row's server then goes on with the next one:
- its effect can never be applied (greenlets/rows/inbox.py: a value out of range, say): at once;
- it crashes the row's server on every attempt (it raises while being applied, so its transaction rolls
  back and it stays first in the inbox): the row supervisor restarts the server as for any crash, and
  once the row's restart limit is reached moves the message here instead of failing the row
  (greenlets/rows/supervisor.py). A crash not tied to a message still fails the row.
A caller waiting on the message gets a reply with an error (`message_discarded`) and the dead letter's id.
``POST /dead-letters/<id>/replay`` puts it back at the end of its row's inbox (a new message, within
GREENROW_INBOX_MAX) and removes it from dead_letters in the same transaction.
"""
import logging

import psycopg2.errors

from greenlets.db.queries import run_query
from greenlets.errors import InboxFull, RowNotFound
from greenlets.idempotency import store_call_reply
from greenlets.views import iso

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 1000

# The attribute a crash raised while applying a message carries: that message (a dict of take_next_message).
CRASHED_ON = "greenrow_crashed_on_message"


def crashed_on(error):
    """The message a row server's crash was raised applying (and that stays in its inbox), or None."""
    return getattr(error, CRASHED_ON, None)


def error_text(error):
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text[:MAX_ERROR_CHARS]


def set_aside(node, row_id, epoch, message, error, why):
    """Fenced: move a queued message to dead_letters and answer a caller waiting on it; the dead letter's
    id, or None when this node lost the row's lease (or the message is no longer queued)."""
    moved = node.pool.fetch_one("dead_letter_message", {"message_id": message["id"], "node_id": node.id,
                                                        "epoch": epoch, "error": error_text(error)})
    if moved is None:
        return None
    dead_letter_id = moved[0]
    node.telemetry.bump("messages_dead_lettered")
    log.error("greenrow.message.dead_lettered row=%s message=%s type=%s dead_letter=%s error=%s (%s)",
              row_id, message["id"], message["type"], dead_letter_id, error_text(error), why)
    if message["reply_to"]:
        reply = {"type": message["type"], "node": node.id, "dead_letter_id": dead_letter_id,
                 "error": {"code": "message_discarded",
                           "message": f"message could not be applied ({why}): {error}; kept as dead letter "
                                      f"{dead_letter_id}"}}
        with node.pool.statement() as cur:  # a keyed call's retry gets this reply too
            store_call_reply(cur, message["id"], message["reply_to"], reply)
        node.router.reply(message["reply_to"], reply)
    return dead_letter_id


def view(record):
    return {"id": record["id"], "row_id": record["row_id"], "message_id": record["message_id"],
            "type": record["type"], "body": record["body"], "error": record["error"],
            "sent_at": iso(record["sent_at"]), "dead_at": iso(record["dead_at"])}


def of_row(pool, row_id, limit):
    """A row's dead letters, oldest first; None when the row does not exist."""
    records = pool.fetch_all("row_dead_letters", {"row_id": row_id, "limit": limit}, dicts=True)
    if not records[0]["row_exists"]:
        return None
    return [view(record) for record in records if record["id"] is not None]


def replay(node, dead_letter_id):
    """Re-queue a dead letter as a new message of its row (and drop it); {"message_id", "row_id"}, or None
    when there is no such dead letter. InboxFull, or RowNotFound when its run is being deleted."""
    letter = node.pool.fetch_one("dead_letter", {"dead_letter_id": dead_letter_id}, dicts=True)
    if letter is None:
        return None
    row_id = letter["row_id"]
    try:
        with node.pool.transaction(dicts=True) as cur:
            run_query(cur, "lock_row_inbox", {"row_id": row_id})
            run_query(cur, "replay_dead_letter", {"dead_letter_id": dead_letter_id, "row_id": row_id,
                                                  "inbox_max": node.settings.inbox_max, "node_id": node.id,
                                                  **node.router.wake_params(row_id)})
            result = cur.fetchone()
    except psycopg2.errors.ForeignKeyViolation:  # the run deleter took the row meanwhile
        result = {"message_id": None, "deleting": True}
    if result is None:
        return None  # replayed or deleted meanwhile
    if result["message_id"] is None:
        if result["deleting"]:
            raise RowNotFound(f"row {row_id} of dead letter {dead_letter_id} is being deleted with its run")
        raise InboxFull(f"row {row_id}'s inbox holds {node.settings.inbox_max} messages (GREENROW_INBOX_MAX);"
                        " the dead letter stays: replay it again later")
    node.telemetry.bump("dead_letters_replayed")
    log.info("greenrow.dead_letter.replayed dead_letter=%s row=%s message_id=%s", dead_letter_id, row_id,
             result["message_id"])
    if result["owner"] == node.id:
        node.deliver(row_id)
    return {"message_id": result["message_id"], "row_id": row_id}


def delete(node, dead_letter_id):
    """Drop a dead letter: the dead letter as it was, or None when there is no such dead letter."""
    record = node.pool.fetch_one("delete_dead_letter", {"dead_letter_id": dead_letter_id}, dicts=True)
    if record is None:
        return None
    node.telemetry.bump("dead_letters_deleted")
    return view(record)
