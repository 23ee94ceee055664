#!/usr/bin/env bash
# POST /runs: start a run. By default a slow demo (1,000 rows from 120, one tick a second: two minutes
# of ticking rows to look at); give another body to change it: examples/create-run.sh '{"rows": 20000}'
. "$(dirname "$0")/lib.sh"
body=${1:-'{"rows": 1000, "start_value": 120, "tick_ms": 1000}'}
curl -sS --fail-with-body "${AUTH[@]}" -X POST "$URL/runs" -H 'Content-Type: application/json' -d "$body"
