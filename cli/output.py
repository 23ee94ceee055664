"""What the command line prints: one JSON line with --json; otherwise short headlines, key/value
lists and aligned tables. --field NAME prints only that field (for shell variables)."""
import json
import sys
import time


class FieldMissing(Exception):
    """--field named a field the answer does not have."""


def print_json(value, out=None):
    print(json.dumps(value), file=out or sys.stdout, flush=True)


def picked(answer, names):
    """The values of the named fields of one answer, space-separated (as `read A B` splits them)."""
    values = []
    for name in names:
        if name not in answer:
            raise FieldMissing(f"no field {name!r} in the answer; its fields: {', '.join(answer)}")
        value = answer[name]
        values.append(json.dumps(value) if isinstance(value, (dict, list)) or value is None else str(value))
    return " ".join(values)


def key_values(record, skip=()):
    """Indented `key  value` lines, keys aligned."""
    shown = [(key, value) for key, value in record.items() if key not in skip]
    width = max((len(key) for key, _ in shown), default=0)
    return "\n".join(f"  {key:<{width}}  {_cell(value, key)}" for key, value in shown)


def table(columns, records):
    """An aligned table of records (dicts) under the given columns; numbers right-aligned."""
    cells = [[_cell(record.get(column), column) for column in columns] for record in records]
    widths = [max([len(column)] + [len(row[i]) for row in cells]) for i, column in enumerate(columns)]
    numeric = [all(isinstance(record.get(column), (int, float)) for record in records) and bool(records)
               for column in columns]

    def line(values):  # a heading aligned as its column
        return "  ".join(value.rjust(width) if right else value.ljust(width)
                         for value, width, right in zip(values, widths, numeric)).rstrip()
    return "\n".join([line(columns)] + [line(row) for row in cells])


def _cell(value, name):
    """A value as shown: counts with thousands separators, ids and pids as they are."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value) if name in ("id", "pid") or name.endswith("_id") else f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


# --- the API's objects, for people ---------------------------------------------------------------------------

RUN_COLUMNS = ["id", "status", "rows", "done", "active", "pending", "idle", "failed", "ticks", "restarts",
               "elapsed_s", "created_at"]
NODE_COLUMNS = ["id", "host", "pid", "shards", "row_servers", "heartbeat_age_s", "started_at"]


def run_text(run):
    headline = (f"run {run['id']}: {run['status']}, rows {run['first_row_id']}-{run['last_row_id']} "
                f"({run['rows']:,} rows)")
    return headline + "\n" + key_values(run, skip=("id", "status"))


def row_text(row, headline=None):
    where = f"on node {row['node']}" if row.get("node") else "no live server"
    headline = headline or f"row {row['id']} (run {row['run_id']}): value {row['value']:,}, {row['status']}, {where}"
    return headline + "\n" + key_values(row, skip=("id",))


def runs_text(runs):
    return table(RUN_COLUMNS, runs) if runs else "no runs yet: ./greenrow run start --rows 1000 starts one"


def nodes_text(nodes):
    return table(NODE_COLUMNS, nodes) if nodes else "no live node"


def event_text(name, event):
    """One line for one event of a row's stream (./greenrow row watch)."""
    when = time.strftime("%H:%M:%S")
    if name == "row":
        where = f"on node {event['node']}" if event.get("node") else "no live server"
        return (f"{when} row {event['id']}: value {event['value']:,}, {event['status']}, {where}, "
                f"inbox {event['inbox']}, restarts {event['restarts']}, ticks {event['ticks']:,}")
    if name == "message":
        return f"{when} message {event['message']} (id {event['message_id']}) handled: value {event['value']:,}"
    if name == "crash":
        return f"{when} crash: {event['error']} ({event['outcome']})"
    return f"{when} {name}: {event.get('reason') or event.get('message') or ''}"
