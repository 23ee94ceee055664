#!/usr/bin/env bash
# GET /metrics: Prometheus text of the instance that answers (all its workers; see the README, Telemetry).
. "$(dirname "$0")/lib.sh"
curl -sS --fail-with-body "${AUTH[@]}" "$URL/metrics"
