#!/usr/bin/env bash
# Stops the stack that stack-up.sh started in $STACK_DIR (default
# $REPO/.cache/run): only the PIDs recorded there are signaled, so another
# stack (another STACK_DIR) and unrelated processes are left alone. Safe to run
# when nothing is up. Logs, certificates and keys stay in $STACK_DIR for
# post-mortems; --purge removes the whole state directory as well.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

purge=false
case "${1:-}" in
  "") ;;
  --purge) purge=true ;;
  *) die "usage: $0 [--purge]" ;;
esac

if [[ ! -d "$STACK_DIR" ]]; then
  info "no stack state in $STACK_DIR; nothing to stop"
  exit 0
fi

# Reverse start order: Vault (a client of nothing here, but the demo's plugin
# talks to the apiserver), then the apiserver, then etcd it stores into.
stop_pidfile vault "$STACK_DIR/vault.pid"
stop_pidfile kube-apiserver "$STACK_DIR/kube-apiserver.pid"
stop_pidfile etcd "$STACK_DIR/etcd.pid"
# The env file points at servers that are gone; removing it makes a harness
# that sources it fail fast instead of timing out against dead ports.
rm -f "$STACK_DIR/env"

if $purge; then
  # Only a directory that stack-up.sh made is removed: a mistyped STACK_DIR
  # (say, $HOME) must not be wiped.
  [[ -d "$STACK_DIR/pki" ]] || die "$STACK_DIR does not look like a stack state dir (no pki/); not removing it"
  rm -rf "$STACK_DIR"
  info "removed $STACK_DIR"
fi
info "stack in $STACK_DIR is down"
