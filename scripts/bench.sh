#!/usr/bin/env bash
# Login benchmark on the real stack: starts a private stack (its own state dir
# and ports, so the demo's and the e2e tests' stacks are left alone), mounts
# this plugin at auth/kubernetes and Vault's built-in kubernetes auth at
# auth/builtin with the same config and role, and runs bench/cmd/loginbench:
# logins/s and p50/p99 for both, with auth/token/create as the floor. The stack
# is stopped on exit, whatever happened.
#
# Arguments are passed to loginbench (e.g. -clients 1,8,32 -duration 20s
# -rounds 5); `make bench-stack BENCH_ARGS='...'` does the same.
#
# Settings (environment):
#   BENCH_STACK_DIR   /tmp/kubeauth-bench   state dir of the private stack
#   BENCH_ETCD_PORT   22379
#   BENCH_KUBE_PORT   26443
#   BENCH_VAULT_PORT  28200                 (Vault also binds +1)
# The results are printed and kept as $BENCH_STACK_DIR/results-<time>.md.
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

step "build the stack binaries if missing, the plugin and loginbench"
"$SCRIPTS_DIR/build-stack.sh"
make -C "$REPO_ROOT" --no-print-directory build
plugin_bin="$REPO_ROOT/bin/vault-plugin-auth-kubernetes"
plugin_version="$(make -C "$REPO_ROOT" --no-print-directory -s print-version)"
loginbench="$REPO_ROOT/bin/loginbench"
# bench/ is its own module (the plugin's go.mod does not carry Vault's API
# client); build it from there.
(cd "$REPO_ROOT/bench" && go build -trimpath -o "$loginbench" ./cmd/loginbench)

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
# thousands of tokens in Vault; every measurement starts from empty stores.
"$SCRIPTS_DIR/stack-up.sh" --restart
# shellcheck source=/dev/null
source "$STACK_DIR/env"

results="$STACK_DIR/results-$(date -u '+%Y%m%dT%H%M%SZ').md"
cmd=("$loginbench" -plugin-bin "$plugin_bin" -plugin-version "$plugin_version" "$@")
step "run: ${cmd[*]}"
"${cmd[@]}" | tee "$results"
info "results kept in $results"
