#!/usr/bin/env bash
# GET /rows/{row_id}/events: the row's live events as Server-Sent Events for 5 seconds (default: the
# newest run's first row): `row` at once and at each change (a tick a second), `message` for each
# message its server handles, `crash`, `end`. Without --max-time, curl -N follows it until Ctrl-C.
. "$(dirname "$0")/lib.sh"
row=${1:-$(first_row)}
curl -sS -N --fail-with-body --max-time "${SECONDS_TO_WATCH:-5}" "${AUTH[@]}" "$URL/rows/$row/events" || [ $? -eq 28 ]
