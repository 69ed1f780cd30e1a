#!/usr/bin/env bash
# Writes fuzz seeds minted by a real kube-apiserver into
# internal/satoken/testdata/fuzz/ (the token, key and CA parsers' package):
# the shapes of token, key and CA bundle that the plugin sees in production, so
# the fuzz targets start from them rather than from hand-made inputs alone.
# Starts a private stack (its own state dir and ports) and stops it on exit.
# The seeds are committed; run this again only to refresh them.
#
# Settings (environment):
#   SEEDS_STACK_DIR   /tmp/kubeauth-seeds
#   SEEDS_ETCD_PORT   23379, SEEDS_KUBE_PORT 27443, SEEDS_VAULT_PORT 29200
set -euo pipefail

export STACK_DIR="${SEEDS_STACK_DIR:-/tmp/kubeauth-seeds}"
export ETCD_PORT="${SEEDS_ETCD_PORT:-23379}"
export ETCD_PEER_PORT="$((ETCD_PORT + 1))"
export KUBE_PORT="${SEEDS_KUBE_PORT:-27443}"
export VAULT_PORT="${SEEDS_VAULT_PORT:-29200}"

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

corpus="$REPO_ROOT/internal/satoken/testdata/fuzz"

"$SCRIPTS_DIR/build-stack.sh"
cleanup() {
  local rc=$?
  "$SCRIPTS_DIR/stack-down.sh" || warn "stack-down.sh failed; check $STACK_DIR/*.pid"
  exit "$rc"
}
trap cleanup EXIT
"$SCRIPTS_DIR/stack-up.sh" --restart
# shellcheck source=/dev/null
source "$STACK_DIR/env"

k() { "$KUBECTL_BIN" --kubeconfig "$KUBECONFIG" "$@"; }

# seed TARGET NAME VALUE writes one corpus file holding a single string
# argument, in the format `go test` reads (Go-quoted, so any byte is safe).
seed() {
  local dir="$corpus/$1"
  mkdir -p "$dir"
  printf 'go test fuzz v1\nstring(%s)\n' "$(go_quote "$3")" >"$dir/real-$2"
  info "wrote $dir/real-$2"
}

# seed_payload TARGET NAME JWT writes the JWT's decoded claims as a []byte
# argument: real claim sets for targets that sign their own tokens.
seed_payload() {
  local dir="$corpus/$1" payload
  mkdir -p "$dir"
  payload="$(python3 -c 'import base64,sys; p=sys.argv[1].split(".")[1]; print(base64.urlsafe_b64decode(p+"="*(-len(p)%4)).decode())' "$3")"
  printf 'go test fuzz v1\n[]byte(%s)\n' "$(go_quote "$payload")" >"$dir/real-$2"
  info "wrote $dir/real-$2"
}

# go_quote prints $1 as a Go string literal.
go_quote() {
  python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"
}

k create namespace fuzz-seeds >/dev/null
k -n fuzz-seeds create serviceaccount app >/dev/null
k create -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: seed-node
EOF
k -n fuzz-seeds create -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: seed-pod
spec:
  serviceAccountName: app
  nodeName: seed-node
  containers:
  - name: app
    image: registry.invalid/app
EOF
pod_uid="$(k -n fuzz-seeds get pod seed-pod -o jsonpath='{.metadata.uid}')"

seed FuzzParseToken projected "$(k -n fuzz-seeds create token app --audience vault)"
seed FuzzParseToken projected-default-audience "$(k -n fuzz-seeds create token app)"
seed FuzzParseToken projected-two-audiences "$(k -n fuzz-seeds create token app --audience vault --audience other)"
pod_bound="$(k -n fuzz-seeds create token app --audience vault \
  --bound-object-kind Pod --bound-object-name seed-pod --bound-object-uid "$pod_uid")"
seed FuzzParseToken pod-bound "$pod_bound"
seed_payload FuzzSignedClaims pod-bound "$pod_bound"
seed FuzzPEMKeys apiserver-rsa "$(cat "$KUBE_SA_PUBLIC_KEY")"
seed FuzzCABundle apiserver-serving-ca "$(cat "$KUBE_CA_FILE")"
info "seeds written under $corpus"
