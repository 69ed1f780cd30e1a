#!/usr/bin/env bash
# Runs the unit tests of the plugin's packages (the root, cmd/, internal/
# and scripts/release) built with Go's FIPS 140-3 module and run in FIPS
# 140-only mode, where what the module does not approve fails: what the
# plugin does with keys and TLS there is what these runs check.
#
# Usage: scripts/test-fips.sh
#   FIPS_MODULE=v1.0.0 (default)   the GOFIPS140 to build with
#
# LEFT_OUT names each test this run leaves out, with why; each is printed
# before the run, so a test left out is never counted as passed. Every
# test a run skips by itself is printed after it.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

# "TestName: why"; none today: the fixtures that used keys the module
# refuses now make them outside enforcement (crypto/fips140.WithoutEnforcement).
LEFT_OUT=()

# Tests that must run, never skip, in this mode: they skip elsewhere, so a
# skip here means GODEBUG did not reach the tests.
MUST_RUN=(TestKeyRefusalAgreesWithTheModule)

skip=""
for entry in "${LEFT_OUT[@]}"; do
  echo "test-fips: leaving out ${entry}"
  skip+="${skip:+|}^${entry%%:*}\$"
done

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
GOFIPS140="${FIPS_MODULE:-v1.0.0}" GODEBUG=fips140=only \
  go test -count=1 -v ${skip:+-skip "$skip"} ./... >"$out" 2>&1 || status=$?

# The failures with their output, every skip with its reason, and each
# package's verdict.
grep -E -A3 '^\s*--- (FAIL|SKIP)' "$out" || true
grep -E '^(ok|FAIL|panic:|---)\s' "$out" | grep -v -- '--- PASS' || true
for t in "${MUST_RUN[@]}"; do
  if ! grep -q -- "--- PASS: ${t} " "$out"; then
    echo "test-fips: ${t} did not pass in FIPS 140-only mode (skipped or missing: is GODEBUG=fips140=only reaching the tests?)"
    status=1
  fi
done
exit "$status"
