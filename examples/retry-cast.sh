#!/usr/bin/env bash
# POST /rows/{row_id}/messages with an Idempotency-Key: a cast sent twice with one key (as a client
# retries after a timeout or a 502) is applied once; both answers carry the same message_id, and the
# second says Idempotent-Replayed: true (default: the newest run's first row, incr by 5).
. "$(dirname "$0")/lib.sh"
row=${1:-$(first_row)}
key=${2:-$(python3 -c 'import uuid; print(uuid.uuid4())')}
for attempt in first retry; do
    curl -sS --fail-with-body "${AUTH[@]}" -X POST "$URL/rows/$row/messages" -H 'Content-Type: application/json' \
         -H "Idempotency-Key: $key" -d '{"type": "incr", "by": 5}'
done
