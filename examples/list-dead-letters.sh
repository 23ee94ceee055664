#!/usr/bin/env bash
# GET /rows/{row_id}/dead-letters: a row's dead letters, oldest first (default: the newest run's first row):
# messages set aside unapplied, with their error. With GREENROW_FAULT_INJECTION=1, a poison message makes one:
# examples/call-message.sh ROW_ID '{"type": "crash", "poison": 1}' (it crashes the row server at every
# attempt; at the restart limit it is moved here and the server goes on).
. "$(dirname "$0")/lib.sh"
row=${1:-$(first_row)}
curl -sS --fail-with-body "${AUTH[@]}" "$URL/rows/$row/dead-letters?limit=${2:-20}"
