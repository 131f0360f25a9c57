#!/usr/bin/env bash
# Token endpoint throughput for the cluster set-up, with wrk on loopback. Not a test: it prints
# figures. Three measurements of POST /token (client_credentials, client_secret_basic, ES256
# JWT, token row + audit entry per request):
#
#   1. one node on SQLite                      } by tests/bench/token_bench.sh (with its
#   2. one node on PostgreSQL                  }  /healthz and /introspect lines)
#   3. nginx in front of one node on PostgreSQL  (what the balancer costs)
#   4. nginx in front of two nodes on PostgreSQL (round robin, one database)
#
#   bash tests/bench/cluster_bench.sh [build-dir] [seconds] [connections]
#
# PostgreSQL: the server named by INFOBANK_TEST_PG_URL, or a throwaway one started (and
# removed) with tests/support/pg.sh; each measurement gets a database of its own. Everything
# runs on this machine: on few cores, the nodes, PostgreSQL, nginx and wrk share them.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-10}
conns=${3:-32}
bin=$build/server/infobank
nginx_bin=${INFOBANK_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 2; }
command -v psql >/dev/null || { echo "psql is not installed (apt-get install postgresql)"; exit 2; }
[[ -x $nginx_bin ]] || { echo "nginx is not installed (apt-get install nginx)"; exit 2; }
[[ -x $bin ]] || { echo "$bin not built"; exit 2; }

# shellcheck source=tests/support/pg.sh
source tests/support/pg.sh
work=$(mktemp -d)
pids=()
databases=()
own_pg=0
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for d in "${databases[@]}"; do
    psql -X -q -d "$INFOBANK_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
  done
  if [[ $own_pg == 1 ]]; then pg_stop; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [[ -z ${INFOBANK_TEST_PG_URL:-} ]]; then
  pg_start >&2
  own_pg=1
fi

new_database() {  # sets db_url: a conninfo URI for a fresh database (dropped at exit)
  local name=infobank_bench_$$_${#databases[@]}
  psql -X -q -v ON_ERROR_STOP=1 -d "$INFOBANK_TEST_PG_URL" -c "CREATE DATABASE $name" >/dev/null
  databases+=("$name")
  db_url=${INFOBANK_TEST_PG_URL%/*}/$name
}

echo "infobank on $(nproc) cores, wrk -t2 -c$conns -d${seconds}s, POST /token (client_credentials)"
# 1 and 2: token_bench.sh measures; storage comes from the environment it inherits.
echo "--- 1. one node, SQLite (token_bench.sh)"
bash tests/bench/token_bench.sh "$build" "$seconds" "$conns" | tail -n +2
echo "--- 2. one node, PostgreSQL (token_bench.sh)"
new_database
INFOBANK_STORAGE_BACKEND=postgres INFOBANK_STORAGE_POSTGRES_URL=$db_url \
  bash tests/bench/token_bench.sh "$build" "$seconds" "$conns" | tail -n +2

# 3 and 4: nodes sharing a database, master key and issuer, behind nginx.
wait_for_file() { for _ in $(seq 400); do [[ -s $1 ]] && return 0; sleep 0.05; done; return 1; }
wait_for_url() { for _ in $(seq 400); do curl -fs "$1" >/dev/null && return 0; sleep 0.05; done; return 1; }

lb_port=$(pg_free_port)
issuer=http://127.0.0.1:$lb_port
start_node() {  # name database-url; sets node_port
  local name=$1 dir=$work/$1
  mkdir -p "$dir"
  INFOBANK_DATA_DIR=$dir INFOBANK_LOG_LEVEL=warn INFOBANK_SERVER_PORT=0 \
    INFOBANK_SERVER_PORT_FILE=$dir/port INFOBANK_STORAGE_BACKEND=postgres \
    INFOBANK_STORAGE_POSTGRES_URL=$2 INFOBANK_STORAGE_MASTER_KEY_FILE=$work/master.key \
    INFOBANK_OAUTH_ISSUER=$issuer INFOBANK_BROKER_NODE_ID=$name \
    "$bin" serve >/dev/null 2>"$dir/log" &
  pids+=($!)
  wait_for_file "$dir/port" || { echo "node $name did not start:"; cat "$dir/log"; exit 1; }
  node_port=$(cat "$dir/port")
  wait_for_url "http://127.0.0.1:$node_port/readyz"
}

start_nginx() {  # upstream ports...
  local dir=$work/nginx-$#
  mkdir -p "$dir"
  chmod 0755 "$dir"
  {
    echo "worker_processes 2; error_log $dir/error.log warn;"
    echo "events { worker_connections 1024; }"
    echo "http { access_log off;"
    echo "  client_body_temp_path $dir/cb; proxy_temp_path $dir/p; fastcgi_temp_path $dir/f;"
    echo "  uwsgi_temp_path $dir/u; scgi_temp_path $dir/s;"
    echo "  upstream infobank {"
    for p in "$@"; do echo "    server 127.0.0.1:$p;"; done
    echo "    keepalive 64; }"
    echo "  server { listen 127.0.0.1:$lb_port;"
    echo "    location / { proxy_pass http://infobank; proxy_http_version 1.1;"
    echo "      proxy_set_header Connection \"\"; proxy_set_header Host \$http_host; } } }"
  } >"$dir/nginx.conf"
  "$nginx_bin" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
    -g "daemon off; pid $dir/nginx.pid;" >/dev/null 2>&1 &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_for_url "$issuer/healthz" || { echo "nginx did not start:"; cat "$dir/error.log"; exit 1; }
}

run_token() {  # label url
  local out rps p99 non2xx
  out=$(wrk -t2 -c"$conns" -d"${seconds}s" --latency -s "$work/token.lua" "$2")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $4}' <<<"$out")
  printf '%-28s %12s req/s   p99 %8s   non-2xx %s\n' "$1" "$rps" "$p99" "${non2xx:-0}"
}

new_database
cluster_db=$db_url
INFOBANK_DATA_DIR=$work INFOBANK_STORAGE_BACKEND=postgres INFOBANK_STORAGE_POSTGRES_URL=$cluster_db \
  INFOBANK_STORAGE_MASTER_KEY_FILE=$work/master.key "$bin" migrate >/dev/null
creds=$(INFOBANK_DATA_DIR=$work INFOBANK_STORAGE_BACKEND=postgres \
  INFOBANK_STORAGE_POSTGRES_URL=$cluster_db INFOBANK_STORAGE_MASTER_KEY_FILE=$work/master.key \
  "$bin" client add --name bench --auth-method client_secret_basic \
  --grant-type client_credentials --scope "portability.export audit.read")
id=$(sed 's/.*"client_id":"\([^"]*\)".*/\1/' <<<"$creds")
secret=$(sed 's/.*"client_secret":"\([^"]*\)".*/\1/' <<<"$creds")
cat >"$work/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
LUA

start_node node-a "$cluster_db"
port_a=$node_port
start_node node-b "$cluster_db"
port_b=$node_port
echo "--- 3. nginx -> one node, PostgreSQL"
start_nginx "$port_a"
run_token "POST /token via nginx, 1 node" "$issuer/token"
kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true
echo "--- 4. nginx -> two nodes, PostgreSQL (round robin)"
start_nginx "$port_a" "$port_b"
run_token "POST /token via nginx, 2 nodes" "$issuer/token"
run_token "POST /token at node A alone" "http://127.0.0.1:$port_a/token"
