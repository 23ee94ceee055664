# Sourced by every example: the service's URL, and the ids the examples act on by default.
# GREENROW_URL picks another server (make cluster's nginx: GREENROW_URL=http://127.0.0.1:8080).
# curl -sS: no progress meter, but errors; --fail-with-body: an error answer prints its JSON and the
# script fails (exit 22).
set -euo pipefail
URL=${GREENROW_URL:-http://127.0.0.1:8000}
# With GREENROW_API_TOKEN set, the service wants a bearer token: GREENROW_TOKEN, else the first of
# GREENROW_API_TOKEN (the same export as make run's). "${AUTH[@]}" is empty when there is none.
TOKEN=${GREENROW_TOKEN:-${GREENROW_API_TOKEN:-}}
TOKEN=${TOKEN%%,*}
AUTH=()
if [ -n "$TOKEN" ]; then AUTH=(-H "Authorization: Bearer $TOKEN"); fi

# The newest run's id.
newest_run() {
    local answer id
    answer=$(curl -sS --fail-with-body "${AUTH[@]}" "$URL/runs?limit=1") || { echo "$answer" >&2; return 1; }
    id=$(python3 -c 'import json, sys; runs = json.loads(sys.argv[1])["runs"]; print(runs[0]["id"] if runs else "")' "$answer")
    [ -n "$id" ] || { echo "no run yet: examples/create-run.sh starts one" >&2; return 1; }
    echo "$id"
}

# The first row of the newest run.
first_row() {
    local run answer
    run=$(newest_run) || return 1
    answer=$(curl -sS --fail-with-body "${AUTH[@]}" "$URL/runs/$run") || { echo "$answer" >&2; return 1; }
    python3 -c 'import json, sys; print(json.loads(sys.argv[1])["first_row_id"])' "$answer"
}

# The oldest dead letter of the newest run's first row.
first_dead_letter() {
    local row answer id
    row=$(first_row) || return 1
    answer=$(curl -sS --fail-with-body "${AUTH[@]}" "$URL/rows/$row/dead-letters?limit=1") || { echo "$answer" >&2; return 1; }
    id=$(python3 -c 'import json, sys; letters = json.loads(sys.argv[1])["dead_letters"]; print(letters[0]["id"] if letters else "")' "$answer")
    [ -n "$id" ] || { echo "row $row has no dead letter (examples/list-dead-letters.sh says how one is made)" >&2; return 1; }
    echo "$id"
}
