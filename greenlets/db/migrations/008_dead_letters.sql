-- Dead letters: a message set aside instead of applied, with why. A message whose effect can never be
-- applied (a value out of range, say) is moved here at its first attempt; one that crashes its row server
-- on every attempt is moved here once the row's restart limit is reached, and the row's server goes on
-- with the next message. POST /dead-letters/<id>/replay puts it back at the end of its row's inbox (a new
-- message) and removes it from here in the same transaction; DELETE /dead-letters/<id> drops it. Deleting
-- a run (retention) deletes its rows' dead letters with its rows.
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    row_id      bigint NOT NULL REFERENCES rows (id),
    shard       integer NOT NULL,
    message_id  bigint NOT NULL,            -- its id in the inbox (a replay gets a new one)
    type        text NOT NULL,
    body        jsonb NOT NULL DEFAULT '{}',
    error       text NOT NULL,              -- why it was set aside: the exception, one line
    sent_at     timestamptz NOT NULL,       -- when it was committed to the inbox
    dead_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_row ON dead_letters (row_id, id);
