#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: Debian's postgresql package, a data directory
# and a socket directory under one mktemp directory, listening on a free port of 127.0.0.1
# only, trust authentication (loopback and the private socket only), no fsync.
#
# By hand:
#   eval "$(bash tests/support/pg.sh start)"    # exports INFOBANK_TEST_PG_URL, INFOBANK_TEST_PG_DIR
#   ctest --test-dir build -L postgres ...
#   bash tests/support/pg.sh stop "$INFOBANK_TEST_PG_DIR"
#
# From a script (tests/run.sh): `source tests/support/pg.sh; pg_start; trap pg_stop EXIT`.
#
# initdb and postgres refuse to run as root: as root, they run as the `postgres` system user
# (created by Debian's package) with runuser, and the directory is chowned to it; otherwise
# they run as the current user. PG_BIN overrides the binaries' directory
# (default: the newest /usr/lib/postgresql/*/bin).

pg_bin_dir() {
  if [[ -n ${PG_BIN:-} ]]; then
    echo "$PG_BIN"
    return
  fi
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -z $dir || ! -x $dir/initdb ]]; then
    echo "pg.sh: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)" >&2
    return 1
  fi
  echo "$dir"
}

# Runs a command as the cluster's owner.
pg_as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A port nobody listens on now (a race with another process is caught by pg_ctl failing, and
# pg_start then tries another).
pg_free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "pg.sh: no free port found" >&2
  return 1
}

# Starts the cluster; sets and exports INFOBANK_TEST_PG_DIR and INFOBANK_TEST_PG_URL.
pg_start() {
  local bin dir port
  bin=$(pg_bin_dir) || return 1
  dir=$(mktemp -d "${TMPDIR:-/tmp}/infobank-pg.XXXXXX") || return 1
  INFOBANK_TEST_PG_DIR=$dir
  export INFOBANK_TEST_PG_DIR
  mkdir -p "$dir/socket"
  if [[ $(id -u) -eq 0 ]]; then
    if ! id postgres >/dev/null 2>&1; then
      echo "pg.sh: running as root but there is no 'postgres' user (apt-get install postgresql)" >&2
      return 1
    fi
    chown -R postgres:postgres "$dir"
  fi
  if ! pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale \
      --no-sync >"$dir/initdb.log" 2>&1; then
    echo "pg.sh: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    return 1
  fi
  # Trust, but only over the private socket and loopback (listen_addresses below is loopback
  # too): nothing outside this machine can reach the cluster.
  cat >"$dir/data/pg_hba.conf" <<'EOF'
local all all trust
host all all 127.0.0.1/32 trust
EOF
  for attempt in 1 2 3 4 5; do
    port=$(pg_free_port) || return 1
    # fsync=off: a throwaway cluster never needs to survive a power cut, and the tests
    # create and drop a database each. max_connections: parallel tests, 16 per store.
    if pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/socket -c fsync=off -c full_page_writes=off -c max_connections=500" \
        start >/dev/null; then
      INFOBANK_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
      export INFOBANK_TEST_PG_URL
      echo "pg.sh: PostgreSQL running on 127.0.0.1:$port, data in $dir" >&2
      return 0
    fi
    echo "pg.sh: start on port $port failed (attempt $attempt):" >&2
    tail -n 5 "$dir/server.log" >&2 || true
  done
  return 1
}

# Stops the cluster of $1 (default INFOBANK_TEST_PG_DIR) and removes its directory.
pg_stop() {
  local dir=${1:-${INFOBANK_TEST_PG_DIR:-}}
  [[ -n $dir && -d $dir ]] || return 0
  local bin
  bin=$(pg_bin_dir) || bin=""
  if [[ -n $bin && -f $dir/data/postmaster.pid ]]; then
    pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  case ${1:-} in
    start)
      pg_start >&2 || { pg_stop; exit 1; }
      printf 'export INFOBANK_TEST_PG_DIR=%q\nexport INFOBANK_TEST_PG_URL=%q\n' \
        "$INFOBANK_TEST_PG_DIR" "$INFOBANK_TEST_PG_URL"
      ;;
    stop)
      pg_stop "${2:-}"
      ;;
    *)
      echo "usage: pg.sh start | pg.sh stop DIR   (or source it and call pg_start / pg_stop)" >&2
      exit 2
      ;;
  esac
fi
