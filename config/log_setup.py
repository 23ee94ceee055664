"""One logging set-up for every worker: lifecycle at INFO, restarts at WARNING, failures at ERROR.

Every event is one line. ``LOG_FORMAT=text`` (the default): ``time [pid] LEVEL logger: message``.
``LOG_FORMAT=json``: one JSON object per line with ``time``, ``level``, ``logger``, ``pid``, ``node``
(the worker's node id, once it has one), ``event`` (the ``greenrow.<thing>.<event>`` a message starts
with), ``message``, the ids the message names (``run=``, ``row=``, ``node=``, and ``message=`` as ``message_id``,
lifted as fields) and, when there is one, the ``traceback`` as a string (still one line).
"""
import json
import logging
import os
import re
import time

_EVENT = re.compile(r"^(greenrow\.[\w.]+)")
_IDS = re.compile(r"(?<![\w.])(node|run|row|message)=([^\s,;]+)")
_FIELDS = {"message": "message_id"}  # ("message" is the line's text)


def configure_logging(level, log_format="text", node=None):
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(node))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s [{os.getpid()}] %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler], force=True)


class JsonFormatter(logging.Formatter):
    """A record as one JSON line (see the module's docstring)."""

    def __init__(self, node=None):
        super().__init__()
        self._node = node

    def format(self, record):
        message = record.getMessage()
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "node": getattr(self._node, "id", None),
        }
        event = _EVENT.match(message)
        if event:
            line["event"] = event.group(1)
        line["message"] = message
        if line["node"] is None:
            del line["node"]  # (not started yet: a node= in the message may say which)
        for key, value in _IDS.findall(message):
            key = _FIELDS.get(key, key)
            line.setdefault(key, int(value) if value.isdigit() else value)  # "node" is the worker's own
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def gunicorn_json_logconfig(access_log, level="info"):
    """gunicorn's own loggers (the master's and workers' `Booting worker`, the access log when
    GREENROW_ACCESS_LOG is set) as JSON lines too, for LOG_FORMAT=json (gunicorn's logconfig_dict)."""
    json_stream = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": []},  # each worker sets its own (configure_logging)
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": ["json_stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["json_stdout"] if access_log else [],
                                "propagate": False},
        },
        "handlers": {"json_stderr": json_stream, "json_stdout": {**json_stream, "stream": "ext://sys.stdout"}},
        "formatters": {"json": {"()": "config.log_setup.JsonFormatter"}},
    }
