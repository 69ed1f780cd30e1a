#!/usr/bin/env bash
# Runs every Go fuzz target of the plugin package and of the packages under
# internal/, one after another (Go fuzzes one target per process), each for
# FUZZTIME. The seed corpora live in testdata/fuzz/<Target>/ of each package;
# a crasher that Go finds is written there too and then fails the plain
# `go test` run until it is fixed.
#
# Usage: scripts/fuzz.sh [target-regexp]
#   FUZZTIME=10m (default)   how long each target runs (Go duration, or Nx for N inputs)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
fuzztime="${FUZZTIME:-10m}"
filter="${1:-.}"

# Each target as "package target"; `go list` prints nothing when there is no
# internal/ package yet.
mapfile -t packages < <(
  echo .
  go list ./internal/... 2>/dev/null | sed "s|^$(go list -m)/|./|" || true
)
targets=()
for pkg in "${packages[@]}"; do
  while read -r t; do
    targets+=("$pkg $t")
  done < <(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' | grep -E -- "$filter" || true)
done
((${#targets[@]} > 0)) || die "no fuzz target matches '$filter'"

names=()
for pt in "${targets[@]}"; do names+=("${pt#* }"); done
info "fuzzing ${#targets[@]} targets for $fuzztime each: ${names[*]}"
failed=()
for pt in "${targets[@]}"; do
  pkg="${pt% *}" t="${pt#* }"
  info "fuzz $t in $pkg ($fuzztime)"
  # -run '^$' skips the unit tests; the target's seed corpus still runs first.
  if ! go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" "$pkg"; then
    failed+=("$t ($pkg)")
  fi
done
if ((${#failed[@]} > 0)); then
  die "fuzz targets failed: ${failed[*]} (the failing inputs are in <package>/testdata/fuzz/<target>/)"
fi
info "all ${#targets[@]} fuzz targets ran $fuzztime without a failure"
