#!/usr/bin/env bash
# POST /dead-letters/{dead_letter_id}/replay: put a dead letter back at the end of its row's inbox
# (default: the oldest one of the newest run's first row): 202 {"message_id", "row_id"}; 429 inbox_full
# when the row's inbox is full (it stays a dead letter).
. "$(dirname "$0")/lib.sh"
letter=${1:-$(first_dead_letter)}
curl -sS --fail-with-body "${AUTH[@]}" -X POST "$URL/dead-letters/$letter/replay"
