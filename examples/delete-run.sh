#!/usr/bin/env bash
# DELETE /runs/{run_id}: delete a done or stopped run (default: the newest run): 202, the run marked
# "deleting"; its messages, rows and dead letters go in batches, then GET /runs/{run_id} answers 404.
. "$(dirname "$0")/lib.sh"
run=${1:-$(newest_run)}
curl -sS --fail-with-body "${AUTH[@]}" -X DELETE "$URL/runs/$run"
