#!/usr/bin/env bash
# The broker's crash test with 200 SIGKILLs instead of 20 (by hand, not part of ctest):
#   INFOBANK_BIN=build/server/infobank INFOBANK_SAMPLE_SERVICE_BIN=build/server/sample-service \
#     tests/crash/crash_200.sh
# INFOBANK_CRASH_KILLS overrides the count; INFOBANK_CRASH_SEED replays the kill moments of an
# earlier run (each run prints its seed). Build defaults: build/server/{infobank,sample-service}.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export INFOBANK_BIN="${INFOBANK_BIN:-$root/build/server/infobank}"
export INFOBANK_SAMPLE_SERVICE_BIN="${INFOBANK_SAMPLE_SERVICE_BIN:-$root/build/server/sample-service}"
export INFOBANK_CRASH_KILLS="${INFOBANK_CRASH_KILLS:-200}"
# 20 items a page (500 pages) so that the transfer outlasts 200 kill moments of 50-400 ms.
export INFOBANK_CRASH_PAGE_SIZE="${INFOBANK_CRASH_PAGE_SIZE:-2}"
cd "$root/tests/integration"
exec node --test --test-reporter=spec --test-timeout=1200000 transfer_crash.test.mjs
