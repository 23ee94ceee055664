#!/usr/bin/env bash
# GET /dashboard: the live dashboard, a page to open in a browser (it asks for the token if one is needed).
# GET /dashboard/{name}: its files (dashboard.js, dashboard.css, vendor/uplot/...); no token needed for either.
. "$(dirname "$0")/lib.sh"
echo "open $URL/dashboard in a browser"
curl -sS --fail-with-body "$URL/dashboard" | grep -o '<title>[^<]*</title>'
curl -sS --fail-with-body -o /dev/null -w 'dashboard.js: %{http_code}, %{size_download} bytes\n' "$URL/dashboard/dashboard.js"
