#!/usr/bin/env bash
# GET /healthz: 200 while the process answers.
. "$(dirname "$0")/lib.sh"
curl -sS --fail-with-body "$URL/healthz"
