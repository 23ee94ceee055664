#!/usr/bin/env bash
# DELETE /dead-letters/{dead_letter_id}: drop a dead letter (default: the oldest one of the newest run's
# first row); answers the dead letter as it was.
. "$(dirname "$0")/lib.sh"
letter=${1:-$(first_dead_letter)}
curl -sS --fail-with-body "${AUTH[@]}" -X DELETE "$URL/dead-letters/$letter"
