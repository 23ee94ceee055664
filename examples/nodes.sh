#!/usr/bin/env bash
# GET /nodes: the cluster's live nodes (one per gunicorn worker): id, host, pid, shards, row servers.
. "$(dirname "$0")/lib.sh"
curl -sS --fail-with-body "${AUTH[@]}" "$URL/nodes"
