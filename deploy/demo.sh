#!/usr/bin/env bash
# Demo on one machine: installs the dependencies, builds infobank, prepares ./var (SQLite)
# with a demo resident (demo / demo-password) and a client for the demo relying party, then
# runs infobank on http://127.0.0.1:8080, the demo RP on http://127.0.0.1:8081, and two sample
# blog services for the portability broker: "Atom Blog" on :8091 (Blogger export, seeded with
# the demo resident's posts; the resident has a contract with it) and "JSON Blog" on :8092
# (DTP social posts). Ctrl-C stops them all.
set -euo pipefail

cd "$(dirname "$0")/.."

ISSUER=http://127.0.0.1:8080
RP_PORT=8081
RP_REDIRECT=http://127.0.0.1:${RP_PORT}/callback
RP_SIGNED_OUT=http://127.0.0.1:${RP_PORT}/signed-out
RP_CLIENT_ID=demo-rp
RP_CONFIG=var/demo-rp.json

# The demo RP needs no npm modules; the e2e test modules are not needed here.
INFOBANK_SKIP_NPM=1 bash deploy/install-deps.sh

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFOBANK_BUILD_TESTS=OFF
cmake --build build --target infobank sample-service
bin=build/server/infobank
sample=build/server/sample-service
SAMPLES=${INFOBANK_SAMPLES_DIR:-../shared/samples}

export INFOBANK_DATA_DIR=./var
export INFOBANK_SERVER_ADDRESS=127.0.0.1
export INFOBANK_SERVER_PORT=8080
export INFOBANK_OAUTH_ISSUER=$ISSUER

mkdir -p var
"$bin" migrate

# The demo resident, unless it is already there.
if ! "$bin" resident list | node -e '
  const list = JSON.parse(require("fs").readFileSync(0, "utf8"));
  process.exit(list.some((r) => r.username === "demo") ? 0 : 1);'; then
  printf '%s\n' 'demo-password' |
    "$bin" resident add demo --name 'Demo Resident' --email 'demo@example.test' >/dev/null
  echo "demo: added resident demo / demo-password"
fi

# The demo RP's client. Its secret is shown only once, by `client add`, so it is kept in
# var/demo-rp.json; if that file is lost, or the client was registered before it could sign
# out at infobank (no post-logout redirect URI), the client is registered again.
if "$bin" client show "$RP_CLIENT_ID" >/dev/null 2>&1 &&
   { [[ ! -s $RP_CONFIG ]] ||
     ! "$bin" client show "$RP_CLIENT_ID" | grep -qF "\"$RP_SIGNED_OUT\""; }; then
  "$bin" client remove "$RP_CLIENT_ID" >/dev/null
fi
if ! "$bin" client show "$RP_CLIENT_ID" >/dev/null 2>&1; then
  "$bin" client add --name 'Demo relying party' --id "$RP_CLIENT_ID" \
      --redirect-uri "$RP_REDIRECT" --auth-method client_secret_basic \
      --post-logout-redirect-uri "$RP_SIGNED_OUT" \
      --grant-type authorization_code --grant-type refresh_token \
      --scope 'openid profile offline_access' |
    ISSUER=$ISSUER RP_REDIRECT=$RP_REDIRECT RP_PORT=$RP_PORT node -e '
      const out = JSON.parse(require("fs").readFileSync(0, "utf8"));
      const cfg = { issuer: process.env.ISSUER, client_id: out.client_id, client_secret: out.client_secret,
                    redirect_uri: process.env.RP_REDIRECT, listen_port: Number(process.env.RP_PORT) };
      require("fs").writeFileSync(process.argv[1], JSON.stringify(cfg, null, 2) + "\n", { mode: 0o600 });' \
      "$RP_CONFIG"
  echo "demo: registered client $RP_CLIENT_ID (secret in $RP_CONFIG)"
fi

# The two sample services, and their registration with the broker (pattern 1: infobank issues
# their tokens). The demo resident has a contract with the Atom blog, whose data they can move.
register_service() {  # id name port dataset:format
  if ! "$bin" service list | ID=$1 node -e '
    const list = JSON.parse(require("fs").readFileSync(0, "utf8"));
    process.exit(list.some((s) => s.id === process.env.ID) ? 0 : 1);'; then
    "$bin" service add "$1" --name "$2" --url "http://127.0.0.1:$3" --dataset "$4" >/dev/null
    echo "demo: registered service $2"
  fi
}
register_service atom-blog 'Atom Blog' 8091 blog_posts:blogger-atom
register_service json-blog 'JSON Blog' 8092 blog_posts:dtp-social-post
if ! "$bin" contract list --resident demo | node -e '
  const list = JSON.parse(require("fs").readFileSync(0, "utf8"));
  process.exit(list.length > 0 ? 0 : 1);'; then
  "$bin" contract add --resident demo --service atom-blog >/dev/null
fi

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap stop INT TERM EXIT

"$bin" serve &
pids+=($!)
node deploy/demo-rp/server.mjs "$RP_CONFIG" &
pids+=($!)
"$sample" serve --format blogger-atom --db var/atom-blog.db --port 8091 --issuer "$ISSUER" \
  --seed "$SAMPLES/blogger-export.xml" --resident demo &
pids+=($!)
"$sample" serve --format dtp-social-post --db var/json-blog.db --port 8092 --issuer "$ISSUER" &
pids+=($!)

cat <<MSG

  infobank:  $ISSUER   (resident: demo / demo-password)
  demo RP:   http://127.0.0.1:$RP_PORT   (open it and press "Sign in with infobank")
  transfers: sign in at $ISSUER/account and use "Move your data" (Atom Blog -> JSON Blog)
  Ctrl-C stops them all.

MSG
# Whichever stops first (or Ctrl-C) stops the other.
wait -n || true
