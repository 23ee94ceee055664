"""The message types a row server handles, and what each one does to its row.

Every effect is one fenced ``apply_message`` statement, run in the same transaction that removes
the message from the durable inbox, so a committed message is applied exactly once.
"""
TYPES = ("ping", "get", "set", "incr", "pause", "resume", "stop", "crash")

_NO_CHANGE = {"set_value": None, "add": 0, "paused": None, "stop": False, "revive": False}


def effect(message_type, body):
    """The apply_message parameters for one message (before row_id/node_id are added)."""
    params = dict(_NO_CHANGE)
    if message_type == "set":
        params.update(set_value=int(body["value"]), revive=True)
    elif message_type == "incr":
        params.update(add=int(body["by"]))
    elif message_type == "pause":
        params.update(paused=True)
    elif message_type == "resume":
        params.update(paused=False, revive=True)
    elif message_type == "stop":
        params.update(stop=True)
    elif message_type == "crash" and body.get("poison"):
        raise CrashRequested("poison crash message: it crashes its row server at every attempt")
    elif message_type not in TYPES:
        raise ValueError(f"unknown message type {message_type!r}")
    return params


class CrashRequested(Exception):
    """Raised inside a row server by a ``crash`` message, to exercise its supervisor."""
