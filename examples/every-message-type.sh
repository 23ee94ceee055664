#!/usr/bin/env bash
# POST /rows/{row_id}/messages?wait=true: every message type a row server handles, as calls, each
# printing the row after it (default: the newest run's first row; ends with stop: the row is idle).
# crash is left out: the service refuses it (400 fault_injection_disabled) unless started with
# GREENROW_FAULT_INJECTION=1; then `examples/call-message.sh ROW_ID '{"type": "crash"}'` sends one.
. "$(dirname "$0")/lib.sh"
row=${1:-$(first_row)}
for message in '{"type": "ping"}' '{"type": "get"}' '{"type": "incr", "by": 5}' '{"type": "set", "value": 10}' \
               '{"type": "pause"}' '{"type": "resume"}' '{"type": "stop"}'; do
    curl -sS --fail-with-body "${AUTH[@]}" -X POST "$URL/rows/$row/messages?wait=true" \
         -H 'Content-Type: application/json' -d "$message"
done
