#!/usr/bin/env bash
# POST /rows/{row_id}/messages?wait=true: a call. 200 {"message_id", "reply"} with the row server's
# reply, or 504 after timeout_ms (1 to 60000, default 5000; the message stays queued and is applied).
. "$(dirname "$0")/lib.sh"
row=${1:-$(first_row)}
message=${2:-'{"type": "get"}'}
curl -sS --fail-with-body "${AUTH[@]}" -X POST "$URL/rows/$row/messages?wait=true&timeout_ms=2000" \
     -H 'Content-Type: application/json' -d "$message"
