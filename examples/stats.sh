#!/usr/bin/env bash
# GET /stats: the whole cluster's figures as JSON (every live node's, from its heartbeat row, and totals).
. "$(dirname "$0")/lib.sh"
curl -sS --fail-with-body "${AUTH[@]}" "$URL/stats"
