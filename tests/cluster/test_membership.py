"""Nodes that start together on a fresh database each start at their first attempt.

Every node stores the shard count on first start (`meta_set_default`) and refuses to start if the
database holds another one. Two nodes starting at once run that statement concurrently; the second
must read the value the first one committed, not nothing (which fails its start-up and costs it a
retry, with a misleading "database not reachable" in its log and 503s meanwhile).
"""
import threading

import psycopg2

from greenlets.db.queries import QUERIES
from tests.support.wait import wait_until


def test_a_node_storing_the_shard_count_while_a_peer_does_reads_the_peers_value(database_url, db):
    db.fetch_all("DELETE FROM greenrow_meta WHERE key = 'shards'")
    first, second = psycopg2.connect(database_url), psycopg2.connect(database_url)
    second_pid = second.get_backend_pid()
    answers = {}

    def second_node_starts():
        with second.cursor() as cur:
            cur.execute(QUERIES["meta_set_default"], {"key": "shards", "value": "256"})
            answers["second"] = cur.fetchone()
        second.commit()

    try:
        with first.cursor() as cur:
            cur.execute(QUERIES["meta_set_default"], {"key": "shards", "value": "256"})
            answers["first"] = cur.fetchone()
        thread = threading.Thread(target=second_node_starts)
        thread.start()
        # The second node's INSERT waits for the first one's transaction to end.
        wait_until(lambda: db.fetch_value("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                                          (second_pid,)) == "Lock", 10, message="the second insert never waited")
        first.commit()
        thread.join(10)
    finally:
        first.close()
        second.close()

    assert answers == {"first": ("256",), "second": ("256",)}
