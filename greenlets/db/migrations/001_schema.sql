-- greenrow schema, version 1. Applied once, under an advisory lock, by greenlets/db/migrate.py.

CREATE TABLE greenrow_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- Row ids are handed out in contiguous ranges, one range per run.
CREATE TABLE row_id_counter (
    only_one boolean PRIMARY KEY DEFAULT true CHECK (only_one),
    next_id  bigint NOT NULL
);
INSERT INTO row_id_counter (next_id) VALUES (1);

CREATE TABLE runs (
    id              bigserial PRIMARY KEY,
    status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'stopped')),
    rows            integer NOT NULL,
    first_row_id    bigint NOT NULL,
    last_row_id     bigint NOT NULL,
    start_value     integer NOT NULL,
    step            integer NOT NULL,
    tick_ms         integer NOT NULL,
    scan_ms         integer NOT NULL,
    max_concurrency integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);

-- state: pending (waits for a monitor to launch it), active (a live row server on its shard's owner),
-- idle (value > 0 but not to be launched: stopped), done (value 0), failed (past the restart limit).
CREATE TABLE rows (
    id           bigint PRIMARY KEY,
    run_id       bigint NOT NULL REFERENCES runs (id),
    shard        integer NOT NULL,
    value        integer NOT NULL CHECK (value >= 0),
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'active', 'idle', 'done', 'failed')),
    paused       boolean NOT NULL DEFAULT false,
    ticks        integer NOT NULL DEFAULT 0,
    restarts     integer NOT NULL DEFAULT 0,
    last_tick_at timestamptz
);
CREATE INDEX rows_run_state ON rows (run_id, state);
CREATE INDEX rows_pending ON rows (run_id, id) WHERE state = 'pending';
CREATE INDEX rows_active_shard ON rows (shard) WHERE state = 'active';

-- The durable inbox: a message is applied exactly once, its effect and its DELETE in one transaction.
CREATE TABLE messages (
    id         bigserial PRIMARY KEY,
    row_id     bigint NOT NULL REFERENCES rows (id),
    shard      integer NOT NULL,
    type       text NOT NULL,
    body       jsonb NOT NULL DEFAULT '{}',
    reply_to   text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_row ON messages (row_id, id);
CREATE INDEX messages_shard ON messages (shard);

CREATE TABLE nodes (
    id           text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    row_servers  integer NOT NULL DEFAULT 0
);

-- One lease per shard; a row write checks its shard's lease in the same statement (fencing).
CREATE TABLE shard_leases (
    shard      integer PRIMARY KEY,
    node_id    text,
    epoch      bigint NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL DEFAULT '-infinity'
);
