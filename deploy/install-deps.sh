#!/usr/bin/env bash
# Installs everything infobank needs to build, test and run on Debian 12, as root.
# Idempotent: packages already present are left alone, and the e2e test's npm modules are
# reinstalled only when tests/e2e/package-lock.json changed.
#   INFOBANK_APT_ALWAYS=1  run apt-get update + install even when every package is present
#   INFOBANK_SKIP_NPM=1    skip the npm step (e.g. for a build-only machine)
set -euo pipefail

cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config g++ clang libclang-rt-14-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev nlohmann-json3-dev libgtest-dev libgmock-dev libsodium-dev
  libjemalloc-dev
  libtomlplusplus-dev libcli11-dev libpugixml-dev libpq-dev postgresql nginx wrk chromium openssl ca-certificates sqlite3
  python3-authlib python3-requests
)
# Node 20 may already be installed from elsewhere; Debian's nodejs/npm only when node is missing
# (Debian's npm cannot sit beside a foreign nodejs package).
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: node is present but npm is not; trying Debian's npm" >&2
  packages+=(npm)
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  as_root=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  if [[ $status != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -gt 0 || ${INFOBANK_APT_ALWAYS:-0} == 1 ]]; then
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update
  # Fail early and clearly on a name this Debian does not know.
  for p in "${packages[@]}"; do
    policy=$(apt-cache policy "$p")
    if [[ $policy != *"Candidate: "[0-9]* ]]; then
      echo "install-deps: apt has no candidate for package '$p'" >&2
      exit 1
    fi
  done
  "${as_root[@]}" apt-get install -y --no-install-recommends "${packages[@]}"
else
  echo "install-deps: all ${#packages[@]} Debian packages present"
fi

# End-to-end test modules (oauth4webapi, openid-client, playwright-core), exactly as
# package-lock.json pins them; a tree installed from an older lock file (say, without
# openid-client) has another stamp and is installed again. playwright-core never downloads a
# browser; the tests drive Debian's /usr/bin/chromium.
if [[ ${INFOBANK_SKIP_NPM:-0} != 1 ]]; then
  e2e=tests/e2e
  stamp="$e2e/node_modules/.infobank-lock.sha256"
  want=$(sha256sum "$e2e/package-lock.json" | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    echo "install-deps: $e2e/node_modules up to date"
  else
    (cd "$e2e" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
    echo "$want" >"$stamp"
  fi
fi
