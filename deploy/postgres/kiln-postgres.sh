#!/bin/sh
# Starts PostgreSQL in a container built by ../postgres.Dockerfile, from either base.
# The official image: its own entrypoint, unchanged. Debian's packages: the same contract done here
# (first start: initdb with POSTGRES_USER/POSTGRES_PASSWORD, then POSTGRES_DB; password auth over TCP).
set -eu

if command -v docker-entrypoint.sh >/dev/null 2>&1; then
  exec docker-entrypoint.sh postgres "$@"
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PATH="$bindir:$PATH"
: "${PGDATA:=/var/lib/postgresql/data}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  [ -n "${POSTGRES_PASSWORD:-}" ] || { echo "kiln-postgres: POSTGRES_PASSWORD is required" >&2; exit 1; }
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  # C.UTF-8 is built into glibc: a minbase image has no other locale.
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  # Any address may try, with the password: the container's networks decide who can reach it.
  echo 'host all all all scram-sha-256' >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    # on the local socket only, while nobody else can connect
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    createdb -U "$user" -O "$user" "$db"
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "kiln-postgres: initialised $PGDATA (user $user, database $db)"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
