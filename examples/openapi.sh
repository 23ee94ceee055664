#!/usr/bin/env bash
# GET /openapi.json: the OpenAPI 3.1 document; here its operations, one a line.
. "$(dirname "$0")/lib.sh"
curl -sS --fail-with-body "${AUTH[@]}" "$URL/openapi.json" | python3 -c '
import json, sys
for path, operations in json.load(sys.stdin)["paths"].items():
    for method, operation in operations.items():
        print(method.upper().ljust(5), path.ljust(28), operation["summary"])'
