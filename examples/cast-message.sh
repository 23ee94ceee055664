#!/usr/bin/env bash
# POST /rows/{row_id}/messages: a cast. 202 {"message_id"} once the message is in the row's durable
# inbox; its server applies it next (default: the newest run's first row, incr by 5).
. "$(dirname "$0")/lib.sh"
row=${1:-$(first_row)}
message=${2:-'{"type": "incr", "by": 5}'}
curl -sS --fail-with-body "${AUTH[@]}" -X POST "$URL/rows/$row/messages" -H 'Content-Type: application/json' -d "$message"
