#!/usr/bin/env bash
# Cost as the work grows: starts a private stack (its own state dir and
# ports) and runs bench/cmd/costcurves, which measures logins through this
# plugin (review_mode=hybrid) as one dimension grows while the others stay
# small: roles, clusters, namespaces behind a selector role, distinct
# service accounts, and a flood of forged and expired tokens beside paced
# valid logins. It writes results.md and one SVG chart per dimension. The
# stack is stopped on exit, whatever happened.
#
# Arguments (or `make bench-curves CURVES_ARGS='...'`) go to costcurves,
# e.g. -dims roles,clusters -roles 1,10,100 -rounds 3; `bin/costcurves -h`
# lists every flag.
#
# Settings (environment):
#   CURVES_STACK_DIR   /tmp/kubeauth-curves   state dir of the private stack
#   CURVES_ETCD_PORT   24379
#   CURVES_KUBE_PORT   24443
#   CURVES_VAULT_PORT  24200                  (Vault also binds +1)
# Results go to $CURVES_STACK_DIR/curves-<time>/.
set -euo pipefail

export STACK_DIR="${CURVES_STACK_DIR:-/tmp/kubeauth-curves}"
export ETCD_PORT="${CURVES_ETCD_PORT:-24379}"
export ETCD_PEER_PORT="$((ETCD_PORT + 1))"
export KUBE_PORT="${CURVES_KUBE_PORT:-24443}"
export VAULT_PORT="${CURVES_VAULT_PORT:-24200}"

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

step "build the stack binaries if missing, this plugin and costcurves"
"$SCRIPTS_DIR/build-stack.sh"
make -C "$REPO_ROOT" --no-print-directory build
plugin_version="$(make -C "$REPO_ROOT" --no-print-directory -s print-version)"
(cd "$REPO_ROOT/bench" && go build -trimpath -o "$REPO_ROOT/bin/costcurves" ./cmd/costcurves)

step "start a fresh private stack in $STACK_DIR (etcd :$ETCD_PORT, kube-apiserver :$KUBE_PORT, vault :$VAULT_PORT)"
stop_stack() {
  local rc=$?
  step "stop the stack"
  "$SCRIPTS_DIR/stack-down.sh" || warn "stack-down.sh failed; check $STACK_DIR/*.pid"
  exit "$rc"
}
trap stop_stack EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$SCRIPTS_DIR/stack-up.sh" --restart
# shellcheck source=/dev/null
source "$STACK_DIR/env"

out="$STACK_DIR/curves-$(date -u '+%Y%m%dT%H%M%SZ')"
"$REPO_ROOT/bin/costcurves" -plugin-bin "$REPO_ROOT/bin/vault-plugin-auth-kubernetes" \
  -plugin-version "$plugin_version" -out-dir "$out" "$@"
info "results and charts kept in $out"
