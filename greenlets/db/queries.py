"""Named SQL from queries.sql, looked up by name, and run as statements prepared once per connection.

``run_query(cur, "commit_ticks", params)`` runs a named query. On a pool connection (``PreparingConnection``)
the first run on that connection sends ``PREPARE greenrow_<name> AS ...`` and every run sends
``EXECUTE greenrow_<name>(...)``: PostgreSQL parses and plans each query once per session instead
of at every call (planning the row and inbox statements cost it more than running them). Any other
connection (tests, migrations) runs the query text as it is. ``QUERIES[name]`` is that text.

Statements over a batch of rows are the exception: they are planned at every call, for the batch
they get (a prepared statement's generic plan does not know how many ids an array holds, and chose
plans that made 3,000-row tick commits several times slower); their planning is per batch anyway.
(claim_pending_rows and finish_run are two statements sent at once, which PREPARE could not take anyway.)
"""
import re
from pathlib import Path

import psycopg2.extensions

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_PARAMETER = re.compile(r"%\((\w+)\)s")
PLANNED_EACH_CALL = frozenset({"commit_ticks", "claim_pending_rows", "create_run", "finish_run"})


def load(path):
    text = Path(path).read_text()
    parts = _HEADER.split(text)
    queries = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        lines = [line for line in body.strip().splitlines() if not line.startswith("--")]
        sql = "\n".join(lines).strip().rstrip(";")
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice in {path}")
        queries[name] = sql
    return queries


class Prepared:
    """A named query as a server-side prepared statement: the PREPARE to send once, the EXECUTE to send each time."""

    __slots__ = ("prepare", "execute")

    def __init__(self, name, sql):
        order = list(dict.fromkeys(_PARAMETER.findall(sql)))  # each parameter once, in order of appearance
        numbered = _PARAMETER.sub(lambda match: f"${order.index(match.group(1)) + 1}", sql)
        statement = f"greenrow_{name}"
        self.prepare = f"PREPARE {statement} AS {numbered.replace('%%', '%')}"
        arguments = ", ".join(f"%({parameter})s" for parameter in order)
        self.execute = f"EXECUTE {statement}({arguments})" if order else f"EXECUTE {statement}"


class PreparingConnection(psycopg2.extensions.connection):
    """A psycopg2 connection that remembers which named queries it has prepared (it has its own session)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prepared = set()


def run_query(cur, name, params=None):
    """Run a named query on a cursor: prepared on a PreparingConnection, as plain text on any other."""
    prepared = getattr(cur.connection, "prepared", None)
    if prepared is None or name in PLANNED_EACH_CALL:
        cur.execute(QUERIES[name], params)
        return
    statement = PREPARED[name]
    if name not in prepared:
        cur.execute(statement.prepare)  # a session-level object: a later rollback does not undo it
        prepared.add(name)
    cur.execute(statement.execute, params)


QUERIES = load(Path(__file__).with_name("queries.sql"))
PREPARED = {name: Prepared(name, sql) for name, sql in QUERIES.items() if name not in PLANNED_EACH_CALL}
