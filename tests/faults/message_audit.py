"""A trace of every message removed from an inbox, for the fault tests' exactly-once and order checks.

A deferred constraint trigger records each committed removal with a number drawn at COMMIT: two
transactions applying messages of one row both hold that row's lock until they commit, so for a row
that number is the order the effects were committed in. A rolled-back removal leaves no trace.

(Stands in until the chaos harness's audit, chaos/audit.sql, is on this branch; then these checks
become its check_messages_once and check_message_order.)
"""
import psycopg2

INSTALL = """
CREATE SEQUENCE fault_message_commit_order;
CREATE TABLE fault_message_audit (
    commit_order bigint NOT NULL,
    row_id       bigint NOT NULL,
    message_id   bigint NOT NULL,
    node_id      text
);
CREATE FUNCTION fault_audit_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fault_message_audit
    VALUES (nextval('fault_message_commit_order'), OLD.row_id, OLD.id, current_setting('application_name'));
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER fault_message_audit AFTER DELETE ON messages
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fault_audit_message();
"""

# Removals of one row's messages in commit order whose id is below an id removed before them.
OUT_OF_ORDER = """
SELECT row_id, message_id, earlier_max_id, node_id
  FROM (SELECT *, max(message_id) OVER (PARTITION BY row_id ORDER BY commit_order
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_max_id
          FROM fault_message_audit WHERE row_id = ANY(%s)) AS removals
 WHERE message_id < earlier_max_id
 ORDER BY row_id, commit_order
"""

REMOVALS = "SELECT message_id, count(*) FROM fault_message_audit WHERE row_id = ANY(%s) GROUP BY message_id"


def install(database_url):
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(INSTALL)
    finally:
        conn.close()


def removals(db, row_ids):
    """message id -> how many committed transactions removed it (applied it), for the rows' messages."""
    return dict(db.fetch_all(REMOVALS, (list(row_ids),)))


def out_of_order(db, row_ids):
    """(row, message id, a larger id applied before it, node) for every message applied out of order."""
    return db.fetch_all(OUT_OF_ORDER, (list(row_ids),))
