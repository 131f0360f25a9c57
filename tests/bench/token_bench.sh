#!/usr/bin/env bash
# Token endpoint and introspection throughput with wrk on loopback, next to the same server's
# bare /healthz answer, measured in one run. Not a test: it prints figures.
#
#   bash tests/bench/token_bench.sh [build-dir] [seconds] [connections]
#
# Uses a temporary SQLite database; the server runs with its defaults (an I/O thread and a
# worker per core, at least 2 workers) and log level warn so the access log is not what is
# measured.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-10}
conns=${3:-32}
bin=$build/server/infobank
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 2; }
[[ -x $bin ]] || { echo "$bin not built"; exit 2; }

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export INFOBANK_DATA_DIR=$work INFOBANK_LOG_LEVEL=warn INFOBANK_SERVER_PORT=0 \
  INFOBANK_SERVER_PORT_FILE=$work/port
"$bin" migrate >/dev/null
creds=$("$bin" client add --name bench --auth-method client_secret_basic \
  --grant-type client_credentials --scope "portability.export audit.read")
id=$(sed 's/.*"client_id":"\([^"]*\)".*/\1/' <<<"$creds")
secret=$(sed 's/.*"client_secret":"\([^"]*\)".*/\1/' <<<"$creds")
basic=$(printf '%s:%s' "$id" "$secret" | base64 -w0)

"$bin" serve 2>"$work/log" &
pid=$!
for _ in $(seq 200); do [[ -s $work/port ]] && break; sleep 0.05; done
port=$(cat "$work/port")
base=http://127.0.0.1:$port
for _ in $(seq 200); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.05; done

token=$(curl -fs -H "Authorization: Basic $basic" -d grant_type=client_credentials "$base/token" |
  sed 's/.*"access_token":"\([^"]*\)".*/\1/')

post_script() {  # body -> lua file
  cat >"$work/$1.lua" <<LUA
wrk.method = "POST"
wrk.body = "$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA
}
post_script token "grant_type=client_credentials"
post_script introspect "token=$token"

run() {  # name url [lua]
  local name=$1 url=$2 script=${3:-}
  local out
  out=$(wrk -t2 -c"$conns" -d"${seconds}s" --latency ${script:+-s "$script"} "$url")
  local rps p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $4}' <<<"$out")
  printf '%-28s %12s req/s   p99 %8s   non-2xx %s\n' "$name" "$rps" "$p99" "${non2xx:-0}"
}

echo "infobank on $(nproc) cores, wrk -t2 -c$conns -d${seconds}s, SQLite in $work"
run "GET /healthz (hello)" "$base/healthz"
run "POST /token (cc, basic)" "$base/token" "$work/token.lua"
run "POST /introspect" "$base/introspect" "$work/introspect.lua"
