#!/usr/bin/env bash
# Installs the dependencies, builds infobank twice and runs every test:
#   build/       RelWithDebInfo: unit, integration, end-to-end and fuzz-corpus replay tests
#   build-asan/  Debug with AddressSanitizer + UndefinedBehaviorSanitizer, built with clang: unit
#                tests, fuzz replays, and the integration suite on SQLite
# Storage unit tests and the integration suite run on SQLite and on PostgreSQL: a throwaway
# cluster (tests/support/pg.sh) on loopback, stopped and removed on exit whatever happens.
# Exits non-zero when any step fails. This is what .ci/run runs.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=tests/support/pg.sh
source tests/support/pg.sh

jobs=${INFOBANK_JOBS:-2}

step() { printf '\n=== %s (at %d s) ===\n' "$*" "$SECONDS"; }

step "dependencies"
bash deploy/install-deps.sh

status=0

step "PostgreSQL for the tests"
trap pg_stop EXIT
pg_start

# Line tables only (-g1): enough for the sanitizers' and gdb's backtraces and for perf. The
# two builds are most of this run on a 2-core machine, and compile faster so (one of the
# heaviest files: 75 -> 59 s, 83 -> 73 s under ASan; README, "Tests").
step "build (RelWithDebInfo) in build/"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFOBANK_BUILD_TESTS=ON \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
cmake --build build -j "$jobs"

step "tests in build/"
# --timeout is the default for tests that set no TIMEOUT property of their own.
if ! ctest --test-dir build --output-on-failure --no-tests=error -j "$jobs" --timeout 300; then
  status=1
fi

# With clang: it compiles this Debug build in half GCC's time (a whole build 290 s against
# ~600 s on a 2-core machine), and a second compiler's warnings, errors too, check the code.
step "build (Debug, ASan+UBSan, clang) in build-asan/"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DINFOBANK_SANITIZE=ON \
  -DINFOBANK_BUILD_TESTS=ON -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DCMAKE_CXX_COMPILER=clang++
cmake --build build-asan -j "$jobs" --target unit-and-fuzz infobank sample-service

# The integration suite too, on SQLite, against the sanitized infobank and sample-service: a
# server that leaks or trips a sanitizer exits with another status than 0 on SIGTERM, and the
# harness fails the test for it (tests/support/harness.mjs, stopChild). Not the two longest
# files (the 10,000-item crash test and the injected faults: 210 and 105 s under ASan, run
# above in build/), nor PostgreSQL's copies of the others.
step "unit tests, fuzz replays and integration tests (SQLite) under ASan+UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if ! ctest --test-dir build-asan --output-on-failure --no-tests=error -j "$jobs" --timeout 300 \
  -L 'unit|fuzz|integration' -LE postgres -E 'integration\.transfer_(crash|faults)$'; then
  status=1
fi

if [[ $status -ne 0 ]]; then
  step "FAILED (see the ctest summaries above)"
else
  step "all tests passed"
fi
exit "$status"
