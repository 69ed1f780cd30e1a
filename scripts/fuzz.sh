#!/usr/bin/env bash
# Runs every Go fuzz target of the plugin package, one after another (Go fuzzes
# one target per process), each for FUZZTIME. The seed corpora live in
# testdata/fuzz/<Target>/; a crasher that Go finds is written there too and
# then fails the plain `go test` run until it is fixed.
#
# Usage: scripts/fuzz.sh [target-regexp]
#   FUZZTIME=10m (default)   how long each target runs (Go duration, or Nx for N inputs)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
fuzztime="${FUZZTIME:-10m}"
filter="${1:-.}"

mapfile -t targets < <(go test -list '^Fuzz' . | grep '^Fuzz' | grep -E -- "$filter" || true)
((${#targets[@]} > 0)) || die "no fuzz target matches '$filter'"

info "fuzzing ${#targets[@]} targets for $fuzztime each: ${targets[*]}"
failed=()
for t in "${targets[@]}"; do
  info "fuzz $t ($fuzztime)"
  # -run '^$' skips the unit tests; the target's seed corpus still runs first.
  if ! go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" .; then
    failed+=("$t")
  fi
done
if ((${#failed[@]} > 0)); then
  die "fuzz targets failed: ${failed[*]} (the failing inputs are in testdata/fuzz/<target>/)"
fi
info "all ${#targets[@]} fuzz targets ran $fuzztime without a failure"
