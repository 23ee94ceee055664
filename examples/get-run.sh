#!/usr/bin/env bash
# GET /runs/{run_id}: one run with its counts (default: the newest run). Run it again to see them move.
. "$(dirname "$0")/lib.sh"
run=${1:-$(newest_run)}
curl -sS --fail-with-body "${AUTH[@]}" "$URL/runs/$run"
