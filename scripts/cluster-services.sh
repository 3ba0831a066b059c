#!/usr/bin/env bash
# PostgreSQL (127.0.0.1:5432, trust auth, database `test`) and NATS with JetStream
# (127.0.0.1:4222) for the cluster tests. When they already answer, they are used as they are;
# otherwise Debian's `postgresql` and `nats-server` are installed (if missing) and started in a
# temporary directory, and stopped when the sourcing shell exits.
# Usage: `source scripts/cluster-services.sh` (scripts/test.sh does).

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

skypod_services_dir=""
skypod_stop_services() {
  [ -n "$skypod_services_dir" ] || return 0
  if [ -f "$skypod_services_dir/nats.pid" ]; then kill "$(cat "$skypod_services_dir/nats.pid")" 2>/dev/null || true; fi
  if [ -d "$skypod_services_dir/pg" ]; then
    runuser -u postgres -- "$skypod_pg_bin/pg_ctl" -D "$skypod_services_dir/pg" -m fast stop >/dev/null 2>&1 || true
  fi
  rm -rf "$skypod_services_dir"
}

if ! answers 5432 || ! answers 4222; then
  skypod_services_dir="$(mktemp -d /tmp/skypod-services.XXXXXX)"
  chmod 755 "$skypod_services_dir"
  trap skypod_stop_services EXIT
fi

if ! answers 5432; then
  echo "== starting PostgreSQL on 127.0.0.1:5432 (temporary, trust auth, database test)" >&2
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  fi
  skypod_pg_bin="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
  # Both directories belong to postgres: the server runs as that user and writes its log.
  mkdir -p "$skypod_services_dir/pg" "$skypod_services_dir/pglog"
  chown postgres: "$skypod_services_dir/pg" "$skypod_services_dir/pglog"
  # From / in a subshell: postgres may not enter the caller's working directory, and a sourced
  # script must not change it.
  (
    cd /
    runuser -u postgres -- "$skypod_pg_bin/initdb" -D "$skypod_services_dir/pg" -A trust -U postgres >/dev/null
    runuser -u postgres -- "$skypod_pg_bin/pg_ctl" -D "$skypod_services_dir/pg" -w -l "$skypod_services_dir/pglog/pg.log" \
      -o "-c listen_addresses=127.0.0.1 -p 5432 -k $skypod_services_dir/pg -c max_connections=300" start >/dev/null
  )
  "$skypod_pg_bin/psql" -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE test' >/dev/null
fi

if ! answers 4222; then
  echo "== starting NATS (JetStream) on 127.0.0.1:4222 (temporary)" >&2
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server >/dev/null
  }
  PATH="$PATH:/usr/sbin" nats-server -a 127.0.0.1 -p 4222 -js -sd "$skypod_services_dir/nats" \
    >"$skypod_services_dir/nats.log" 2>&1 &
  echo $! >"$skypod_services_dir/nats.pid"
  for _ in $(seq 1 100); do answers 4222 && break; sleep 0.1; done
fi
# The cluster tests start nats-server themselves for the bus-restart test.
export PATH="$PATH:/usr/sbin"
