#!/usr/bin/env bash
# POST /runs/{run_id}/stop: stop a run's row servers; values stay as they are (default: the newest run).
. "$(dirname "$0")/lib.sh"
run=${1:-$(newest_run)}
curl -sS --fail-with-body "${AUTH[@]}" -X POST "$URL/runs/$run/stop"
