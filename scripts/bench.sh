#!/usr/bin/env bash
# Login benchmark on the real stack (issue 9's benchmark of record): starts a
# private stack (its own state dir and ports, so the demo's and the e2e
# tests' stacks are left alone) and runs bench/cmd/loginbench, which mounts,
# on the same Vault against the same kube-apiserver:
#   noop           a no-op external auth plugin (bench/cmd/noopplugin)
#   upstream       the upstream plugin, github.com/hashicorp/vault-plugin-auth-kubernetes
#   plugin-always  this plugin, review_mode default (always)
#   plugin-cached  this plugin, review_mode=cached
#   plugin-hybrid  this plugin, review_mode=hybrid
#   builtin        Vault's built-in kubernetes method
#   token-create   auth/token/create (no login at all)
# and, only when -targets names them (issue 12), plugin-always-10c and
# plugin-cached-10c: the same two modes on a mount with config and nine
# cluster/<name> entries (the same kube-apiserver, issuers no token carries),
# each run right after its one-cluster twin in every round. It reports
# logins/s, p50/p99, TokenReviews and CPU per login for the distinct and
# repeat workloads, issue 9's targets as met/not met, the 10- against the
# 1-cluster ratios when both were measured, and CPU profiles of the plugin
# process under load. The stack is stopped on exit, whatever happened.
#
# Arguments are passed to loginbench (e.g. -targets noop,plugin-always,builtin
# -workload distinct -clients 8 -duration 5s -rounds 2, or -targets
# plugin-always,plugin-always-10c,plugin-cached,plugin-cached-10c); `make bench-stack
# BENCH_ARGS='...'` does the same. `bin/loginbench -h` lists every flag.
#
# Settings (environment):
#   BENCH_STACK_DIR   /tmp/kubeauth-bench   state dir of the private stack
#   BENCH_ETCD_PORT   22379
#   BENCH_KUBE_PORT   26443
#   BENCH_VAULT_PORT  28200                 (Vault also binds +1)
# The results are printed and kept as $BENCH_STACK_DIR/results-<time>.md, the
# profiles beside them in $BENCH_STACK_DIR/results-<time>/.
set -euo pipefail

# The generic STACK_DIR/ports are exported by scripts/stack.mk with the demo's
# defaults, so they cannot tell "chosen by the user" from "inherited"; the
# benchmark therefore has its own variables and never touches the demo stack.
export STACK_DIR="${BENCH_STACK_DIR:-/tmp/kubeauth-bench}"
export ETCD_PORT="${BENCH_ETCD_PORT:-22379}"
export ETCD_PEER_PORT="$((ETCD_PORT + 1))"
export KUBE_PORT="${BENCH_KUBE_PORT:-26443}"
export VAULT_PORT="${BENCH_VAULT_PORT:-28200}"

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

step "build the stack binaries and the upstream plugin if missing, this plugin, the no-op plugin and loginbench"
"$SCRIPTS_DIR/build-stack.sh"
"$SCRIPTS_DIR/build-stack.sh" kubernetes-upstream
make -C "$REPO_ROOT" --no-print-directory build
plugin_bin="$REPO_ROOT/bin/vault-plugin-auth-kubernetes"
plugin_version="$(make -C "$REPO_ROOT" --no-print-directory -s print-version)"
loginbench="$REPO_ROOT/bin/loginbench"
noop_bin="$REPO_ROOT/bin/kubeauth-bench-noop"
# bench/ is its own module (the plugin's go.mod carries neither Vault's API
# client nor the no-op plugin); build from there.
(cd "$REPO_ROOT/bench" && go build -trimpath -o "$loginbench" ./cmd/loginbench &&
  go build -trimpath -ldflags "-s -w" -o "$noop_bin" ./cmd/noopplugin)

step "start a fresh private stack in $STACK_DIR (etcd :$ETCD_PORT, kube-apiserver :$KUBE_PORT, vault :$VAULT_PORT)"
cleanup() {
  local rc=$?
  step "stop the benchmark stack"
  "$SCRIPTS_DIR/stack-down.sh" || warn "stack-down.sh failed; check $STACK_DIR/*.pid"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# --restart: an earlier, interrupted run may have left this stack up with
# thousands of tokens and entities in Vault; every measurement starts from
# empty stores.
"$SCRIPTS_DIR/stack-up.sh" --restart
# shellcheck source=/dev/null
source "$STACK_DIR/env"

stamp="$(date -u '+%Y%m%dT%H%M%SZ')"
results="$STACK_DIR/results-$stamp.md"
cmd=("$loginbench"
  -plugin-bin "$plugin_bin" -plugin-version "$plugin_version"
  -upstream-bin "$UPSTREAM_PLUGIN_BIN" -upstream-version "$UPSTREAM_PLUGIN_VERSION"
  -noop-bin "$noop_bin"
  -out-dir "$STACK_DIR/results-$stamp"
  "$@")
step "run: ${cmd[*]}"
"${cmd[@]}" | tee "$results"
info "results kept in $results"
