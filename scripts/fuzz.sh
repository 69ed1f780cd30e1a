#!/usr/bin/env bash
# Runs every Go fuzz target of the plugin package, of the packages under
# internal/, of tools/release's and of the bench module's, one after another (Go fuzzes one target per process), each for
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

# Each target as "package target", the package relative to the repository;
# `go list` prints nothing when there is no internal/ package yet. The
# release tools' parsers of downloaded files (tools/release, a module of its
# own) and the benchmarks' parsers of /proc and of tokens (bench, another)
# are fuzzed too.
mapfile -t packages < <(
  echo .
  go list ./internal/... 2>/dev/null | sed "s|^$(go list -m)/|./|" || true
  (cd tools/release && go list ./internal/... | sed "s|^$(go list -m)/|./tools/release/|")
  (cd bench && go list ./... | sed "s|^$(go list -m)/|./bench/|")
)

# gotest runs go test for a package given relative to the repository, from
# the module that holds it.
gotest() {
  local pkg="$1"
  shift
  case "$pkg" in
  ./tools/release/*) go -C tools/release test "$@" "./${pkg#./tools/release/}" ;;
  ./bench/*) go -C bench test "$@" "./${pkg#./bench/}" ;;
  *) go test "$@" "$pkg" ;;
  esac
}

targets=()
for pkg in "${packages[@]}"; do
  while read -r t; do
    targets+=("$pkg $t")
  done < <(gotest "$pkg" -list '^Fuzz' | grep '^Fuzz' | grep -E -- "$filter" || true)
done
((${#targets[@]} > 0)) || die "no fuzz target matches '$filter'"

names=()
for pt in "${targets[@]}"; do names+=("${pt#* }"); done
info "fuzzing ${#targets[@]} targets for $fuzztime each: ${names[*]}"
# corpus_size is how many inputs target $2's corpus in package $1 holds.
corpus_size() {
  find "$1/testdata/fuzz/$2" -type f 2>/dev/null | wc -l || true
}

# deadline_race says whether the output file $2 of target $1 ends in the
# coordinator's bare "context deadline exceeded": the line after the
# target's "--- FAIL" line, and nothing of the target's own.
deadline_race() {
  [[ "$(grep -A1 "^--- FAIL: $1 " "$2" | sed -n 2p | tr -d '[:space:]')" == "contextdeadlineexceeded" ]]
}

# fuzz_one runs target $2 of package $1 once. -run '^$' skips the unit
# tests; the target's seed corpus still runs first. It returns 0 when the
# target passed, 1 when it failed, and 2 for the one failure that is not
# the target's: Go 1.26's fuzzing coordinator can end a duration -fuzztime
# with "context deadline exceeded" and no failing input (a race in the
# toolchain, fixed in Go 1.27). That case is known by its last lines and
# by no new input in the target's corpus.
fuzz_one() {
  local pkg="$1" t="$2" out before after rc=0
  out="$(mktemp)"
  before="$(corpus_size "$pkg" "$t")"
  gotest "$pkg" -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" 2>&1 | tee "$out" || rc=1
  after="$(corpus_size "$pkg" "$t")"
  if ((rc != 0)) && ((after == before)) && deadline_race "$t" "$out"; then
    rc=2
  fi
  rm -f "$out"
  return "$rc"
}

failed=()
for pt in "${targets[@]}"; do
  pkg="${pt% *}" t="${pt#* }"
  info "fuzz $t in $pkg ($fuzztime)"
  rc=0
  fuzz_one "$pkg" "$t" || rc=$?
  if ((rc == 2)); then
    warn "$t: Go's fuzzing coordinator ended with \"context deadline exceeded\" and no failing input; running it once more"
    rc=0
    fuzz_one "$pkg" "$t" || rc=$?
  fi
  if ((rc != 0)); then
    failed+=("$t ($pkg)")
  fi
done
if ((${#failed[@]} > 0)); then
  die "fuzz targets failed: ${failed[*]} (the failing inputs are in <package>/testdata/fuzz/<target>/)"
fi
info "all ${#targets[@]} fuzz targets ran $fuzztime without a failure"
