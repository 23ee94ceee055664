#!/usr/bin/env bash
# GET /readyz: 200 once the node runs, every worker is up and the shards are balanced; else 503 saying why.
. "$(dirname "$0")/lib.sh"
curl -sS --fail-with-body "$URL/readyz"
