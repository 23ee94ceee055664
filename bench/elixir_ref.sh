#!/usr/bin/env bash
# Run the Elixir/OTP reference of the seed scenario (shared/bench/elixir/seed_scenario.exs,
# read in place) against a PostgreSQL reached over TCP; print its JSON object on stdout.
#
#   bench/elixir_ref.sh [ROWS] [CONCURRENCY] [POOL]        defaults: 20000 10000 20
#
# env: PGHOST (127.0.0.1; TCP only, p1_pgsql has no Unix sockets) PGPORT (5432) PGUSER (postgres,
#      trust or empty password) PGDATABASE (postgres: only used to create the run's database)
#      ELIXIR_REF_DB (elixir_ref: the script drops and recreates table `rows` there, created if
#      missing; never point it at the service's database)
#      PGDATA_DIR (optional: that cluster's data dir, so the JSON's pg_cpu_s is filled in)
#      TX_MODE, HIBERNATE, ERL_FLAGS pass through (see shared/bench/elixir/README.md).
# Exit: 0 ok, 1 run failed or not verified, 2 bad usage, 3 elixir or p1_pgsql missing.
set -euo pipefail

ROWS=${1:-20000}
CONCURRENCY=${2:-10000}
POOL=${3:-20}
REF_DIR="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)/../shared/bench/elixir"
SCRIPT="$REF_DIR/seed_scenario.exs"

export PGHOST=${PGHOST:-127.0.0.1}
export PGPORT=${PGPORT:-5432}
export PGUSER=${PGUSER:-postgres}
MAINT_DB=${PGDATABASE:-postgres}
REF_DB=${ELIXIR_REF_DB:-elixir_ref}
# the script's default data dir may belong to another cluster: without PGDATA_DIR, no PG CPU
export PGDATA_DIR=${PGDATA_DIR:-/dev/null}

die() { echo "elixir_ref: $2" >&2; exit "$1"; }

for n in "$ROWS" "$CONCURRENCY" "$POOL"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die 2 "usage: $0 [ROWS] [CONCURRENCY] [POOL] (positive integers)"
done
[[ $PGHOST != /* ]] || die 2 "PGHOST=$PGHOST is a socket dir; p1_pgsql needs TCP (e.g. PGHOST=127.0.0.1)"
[[ $REF_DB =~ ^[a-z_][a-z0-9_]*$ ]] || die 2 "ELIXIR_REF_DB=$REF_DB is not a plain lower-case name"
[ -f "$SCRIPT" ] || die 2 "reference script not found: $SCRIPT"

p1_ebin() { compgen -G "/usr/lib/erlang/lib/p1_pgsql-*/ebin" | sort -V | tail -n 1 || true; }
missing() {
  local m=()
  command -v elixir >/dev/null || m+=(elixir)
  [ -n "$(p1_ebin)" ] || m+=("p1_pgsql (/usr/lib/erlang/lib/p1_pgsql-*/ebin)")
  echo "${m[*]}"
}

if [ -n "$(missing)" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "elixir_ref: installing elixir erlang-p1-pgsql with apt-get" >&2
  { apt-get install -y elixir erlang-p1-pgsql \
      || { apt-get update && apt-get install -y elixir erlang-p1-pgsql; }; } >&2 || true
fi
[ -z "$(missing)" ] \
  || die 3 "missing: $(missing); install: apt-get update && apt-get install -y elixir erlang-p1-pgsql"
EBIN=$(p1_ebin)

# create the run's database if missing, through the maintenance database (no psql needed)
PGDATABASE=$MAINT_DB REF_DB=$REF_DB elixir -pa "$EBIN" -e '
  env = &System.get_env/1
  {:ok, c} = :pgsql.connect(host: String.to_charlist(env.("PGHOST")),
    port: String.to_integer(env.("PGPORT")), user: String.to_charlist(env.("PGUSER")),
    database: String.to_charlist(env.("PGDATABASE")), password: ~c"", as_binary: true)
  db = env.("REF_DB")
  case :pgsql.pquery(c, "SELECT 1 FROM pg_database WHERE datname = $1", [db]) do
    {:ok, _, _, _, []} -> {:ok, _} = :pgsql.squery(c, "CREATE DATABASE " <> db)
    {:ok, _, _, _, [_]} -> :ok
  end' >&2 || die 1 "cannot reach PostgreSQL at $PGHOST:$PGPORT as $PGUSER to create $REF_DB"

out=$(PGDATABASE=$REF_DB elixir -pa "$EBIN" "$SCRIPT" "$ROWS" "$CONCURRENCY" "$POOL") \
  || die 1 "seed_scenario.exs failed (its error is above)"
echo "$out"
grep -q '"check_all_zero": true' <<<"$out" && grep -q '"check_ticks_ok": true' <<<"$out" \
  || die 1 "run not verified (rows left > 0 or ticks != 3 * rows)"
