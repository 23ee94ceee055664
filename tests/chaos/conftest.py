"""Chaos fixtures: a test database with the chaos audit installed, and rows planted in it by hand."""
import psycopg2
import pytest

from chaos import audit


@pytest.fixture
def audited(database_url):
    """An open connection (autocommit) to the test's database, with the audit installed."""
    conn = psycopg2.connect(database_url)
    audit.install(conn)
    conn.autocommit = True
    yield conn
    conn.close()


class Planted:
    """A run, its rows and its shards' leases written straight into the tables, and writes made as a node."""

    def __init__(self, database_url, conn):
        self.database_url = database_url
        self.conn = conn
        self._as_node = {}

    def run(self, rows=2, start_value=3, tick_ms=1000, max_concurrency=10):
        run_id = self.value("""INSERT INTO runs (rows, first_row_id, last_row_id, start_value, step, tick_ms, scan_ms,
                                                 max_concurrency)
                               VALUES (%s, 1, %s, %s, 1, %s, 2000, %s) RETURNING id""",
                            (rows, rows, start_value, tick_ms, max_concurrency))
        self.execute("""INSERT INTO rows (id, run_id, shard, value, state)
                        SELECT g, %s, g, %s, 'active' FROM generate_series(1, %s) AS g""", (run_id, start_value, rows))
        self.execute("""INSERT INTO shard_leases (shard, node_id, epoch, expires_at)
                        SELECT g, 'a', 1, now() + interval '1 hour' FROM generate_series(1, %s) AS g""", (rows,))
        return run_id

    def as_node(self, node_id):
        """A connection named as the product names its own ("greenrow <node id>"), autocommit."""
        if node_id not in self._as_node:
            conn = psycopg2.connect(self.database_url, application_name=f"greenrow {node_id}")
            conn.autocommit = True
            self._as_node[node_id] = conn
        return self._as_node[node_id]

    def tick(self, row_id, node_id="a", epoch=None):
        """One tick as node_id commits it, naming `epoch` (by default the shard lease's, as a fenced write does)."""
        with self.as_node(node_id).cursor() as cur:
            cur.execute("""UPDATE rows SET ticks = ticks + 1, value = GREATEST(value - 1, 0),
                                  state = CASE WHEN value <= 1 THEN 'done' ELSE state END,
                                  epoch = coalesce(%s, (SELECT epoch FROM shard_leases l WHERE l.shard = rows.shard))
                            WHERE id = %s""", (epoch, row_id))

    def backdate_ticks(self, seconds_apart=1.0):
        """Spread each row's audited ticks seconds_apart (the last one stays where it is): time passing."""
        self.execute("""UPDATE tick_audit a
                           SET committed_at = last.at - make_interval(secs => %s * (last.tick - a.tick))
                          FROM (SELECT row_id, max(tick) AS tick, max(committed_at) AS at
                                  FROM tick_audit GROUP BY row_id) AS last
                         WHERE last.row_id = a.row_id""", (seconds_apart,))

    def execute(self, sql, params=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)

    def value(self, sql, params=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0]

    def close(self):
        for conn in self._as_node.values():
            conn.close()


@pytest.fixture
def planted(database_url, audited):
    planting = Planted(database_url, audited)
    yield planting
    planting.close()
