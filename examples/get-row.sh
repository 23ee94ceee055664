#!/usr/bin/env bash
# GET /rows/{row_id}: one row: value, status, node, inbox, restarts, ticks (default: the newest run's
# first row). While its run runs, each second shows it a tick lower.
. "$(dirname "$0")/lib.sh"
row=${1:-$(first_row)}
curl -sS --fail-with-body "${AUTH[@]}" "$URL/rows/$row"
