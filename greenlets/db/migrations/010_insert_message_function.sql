-- A cast or call commits its message through this function (queries.sql: insert_message), so that it
-- is one prepared statement, planned once per connection: as two statements sent at once it was
-- parsed and planned at every call, half of its cost in PostgreSQL (530 µs of PostgreSQL CPU per
-- message against 300-400 µs now, measured on this project's 2-core machine).
--
-- Commits a message to a row's durable inbox, unless it already holds p_inbox_max messages, and, when
-- another node owns the row, rings that node (p_wake on p_channel) in the same transaction. Returns the
-- message id (NULL: the inbox is full, or the row's run is being deleted (`deleting`): nothing stored)
-- and the row's current owner (or NULL); no row comes back when the row does not exist.
--
-- Why the inbox never holds more than its bound under READ COMMITTED: the first statement takes the
-- row's inbox lock, a transaction-scoped advisory lock keyed by the negated row id (row ids are
-- positive, and so are greenrow's other advisory locks' keys), so two senders to one row take turns;
-- each later statement of a VOLATILE PL/pgSQL function takes a new snapshot, so the count is taken
-- after the lock was granted and sees every message a sender before it committed.
-- A run marked deleting after the row was read: the run deleter cannot delete the row while this
-- insert's foreign key check holds it FOR KEY SHARE (it skips the row), and an insert reaching a row it
-- deleted fails that check (ForeignKeyViolation: the caller answers 404).
CREATE FUNCTION greenrow_insert_message(p_row_id bigint, p_inbox_max integer, p_type text, p_body jsonb,
                                        p_reply_to text, p_node_id text, p_channel text, p_wake text)
RETURNS TABLE (message_id bigint, owner text, deleting boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_shard integer;
BEGIN
    PERFORM pg_advisory_xact_lock(-p_row_id);
    SELECT r.shard, l.node_id, run.status = 'deleting'
      INTO v_shard, owner, deleting
      FROM rows r
      JOIN runs run ON run.id = r.run_id
      LEFT JOIN shard_leases l ON l.shard = r.shard AND l.expires_at > now()
     WHERE r.id = p_row_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF NOT deleting
       AND (SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.row_id = p_row_id LIMIT p_inbox_max) AS queued)
           < p_inbox_max THEN
        INSERT INTO messages (row_id, shard, type, body, reply_to)
        VALUES (p_row_id, v_shard, p_type, p_body, p_reply_to)
        RETURNING id INTO message_id;
        IF owner <> p_node_id THEN
            PERFORM pg_notify(p_channel, p_wake);
        END IF;
    END IF;
    RETURN NEXT;
END
$$;
