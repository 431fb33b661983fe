#!/usr/bin/env bash
# Installs (from Debian packages, if missing) and starts a throwaway PostgreSQL on 127.0.0.1.
# Writes .ci/postgres.env with DIGESTBOT_TEST_POSTGRES_URL for the test suite.
set -euo pipefail
cd "$(dirname "$0")"
PORT="${PGPORT_TEST:-55432}"
DATA="$PWD/pgdata"

initdb_bin=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$initdb_bin" ]; then
  echo "installing postgresql from Debian packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
  initdb_bin=$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)
fi
bindir=$(dirname "$initdb_bin")

run_as_pg() {
  if [ "$(id -u)" = "0" ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; then
  echo "a PostgreSQL server already answers on 127.0.0.1:$PORT; using it" >&2
else
  rm -rf "$DATA"
  mkdir -p "$DATA"
  [ "$(id -u)" = "0" ] && chown postgres "$DATA"
  run_as_pg "$bindir/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
  run_as_pg "$bindir/pg_ctl" -D "$DATA" -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" \
    -l "$DATA/server.log" -w start >/dev/null
fi
echo "DIGESTBOT_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres" > postgres.env
echo "postgres ready on 127.0.0.1:$PORT" >&2
