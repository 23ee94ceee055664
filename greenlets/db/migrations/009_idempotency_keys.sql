-- Idempotency keys (the Idempotency-Key header of POST /runs and POST /rows/<id>/messages): the first
-- request's fingerprint and response, stored in the transaction of its effect (greenlets/idempotency.py).
-- owner: a digest of the bearer token the request came with ('' when the API is open), so two clients'
-- keys never meet. message_id: a call's message, whose reply the row server stores here when it applies
-- it (status and response stay NULL until then).
CREATE TABLE idempotency_keys (
    owner       text NOT NULL,
    key         text NOT NULL,
    fingerprint text NOT NULL,
    status      integer,
    response    json,           -- json, not jsonb: a replay answers the body as it was, keys in their order
    message_id  bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE INDEX idempotency_keys_message ON idempotency_keys (message_id) WHERE message_id IS NOT NULL;
