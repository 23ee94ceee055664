#!/usr/bin/env bash
# GET /runs: the latest runs, newest first (limit 1 to 1000, default 20).
. "$(dirname "$0")/lib.sh"
curl -sS --fail-with-body "${AUTH[@]}" "$URL/runs?limit=${1:-5}"
