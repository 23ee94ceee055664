#!/usr/bin/env bash
# GET /metrics: the telemetry of the node (worker) that answers.
. "$(dirname "$0")/lib.sh"
curl -sS --fail-with-body "${AUTH[@]}" "$URL/metrics"
