#!/usr/bin/env bash
# End-to-end demo on the real stack: a Kubernetes workload logs in to Vault
# with its service-account token through this plugin, and its Vault token can
# read exactly the one secret its policy allows.
#
# Steps: build the stack binaries and the plugin, start the stack, register
# and mount the plugin at auth/kubernetes, install the token reviewer from
# deploy/kubernetes/ as an operator would and give Vault its token, create
# a secret pair + policy + role, mint a workload token with audience "vault",
# log in, read the allowed secret (200) and the other one (403), and check the
# config against the live cluster (config/check). The stack is
# left up; `make down` stops it. Running it again reuses the running stack and
# re-mounts the plugin, so `make demo` works any number of times.
#
# Environment:
#   PLUGIN_BIN      plugin binary (default: bin/vault-plugin-auth-kubernetes,
#                   built with `make build`; when set, it is used as is)
#   PLUGIN_NAME     catalog name (default vault-plugin-auth-kubernetes)
#   PLUGIN_VERSION  version to register (default: `make -s print-version`,
#                   else v0.1.0); must be the version the binary reports
#   PLUGIN_BUILTIN  1 = skip building/registering and mount Vault's built-in
#                   `kubernetes` method instead (same API; for comparing)
#   STACK_DIR, ETCD_PORT, KUBE_PORT, VAULT_PORT, KUBEAUTH_CACHE: see lib.sh
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PLUGIN_BUILTIN="${PLUGIN_BUILTIN:-0}"
if [[ "$PLUGIN_BUILTIN" == 1 ]]; then
  PLUGIN_NAME="${PLUGIN_NAME:-kubernetes}"
else
  PLUGIN_NAME="${PLUGIN_NAME:-vault-plugin-auth-kubernetes}"
fi
MOUNT=kubernetes
# Kubernetes and Vault names used by the demo; fixed so a second run updates
# the same objects instead of piling up new ones. The reviewer's are those
# deploy/kubernetes/reviewer.yaml creates.
REVIEWER_NS=vault
REVIEWER_SA=vault-token-reviewer
APP_NS=demo
APP_SA=demo-app
ROLE=demo
POLICY=demo-read
ALLOWED_PATH=demo/allowed
FORBIDDEN_PATH=demo/forbidden

# The stack's own Vault CLI and kubectl, whatever may be on PATH.
vault() { "$VAULT_BIN" "$@"; }
kubectl() { "$KUBECTL_BIN" "$@"; }

# on_exit names the step that failed, whatever command inside it failed.
current_step=""
on_exit() {
  local rc=$?
  if ((rc != 0)); then
    printf '[%s] ERROR: demo failed at step: %s (exit %s)\n' "$(ts)" "$current_step" "$rc" >&2
  fi
}
trap on_exit EXIT
demo_step() {
  current_step="$*"
  printf '\n' >&2
  step "$*"
}

# plugin_version decides the version to register: it must equal what the
# binary reports, and the Makefile is where that version is defined.
plugin_version() {
  local v="${PLUGIN_VERSION:-}"
  if [[ -z "$v" ]]; then
    v="$(make -s -C "$REPO_ROOT" --no-print-directory print-version 2>/dev/null || true)"
  fi
  if [[ ! "$v" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
    [[ -z "$v" ]] || warn "ignoring version '$v' from 'make print-version' (not vX.Y.Z)"
    v=v0.1.0
  fi
  printf '%s\n' "$v"
}

# ---------------------------------------------------------------------------

demo_step "build stack binaries (etcd, kube-apiserver, kubectl, vault) if missing"
"$SCRIPTS_DIR/build-stack.sh"

if [[ "$PLUGIN_BUILTIN" != 1 ]]; then
  if [[ -n "${PLUGIN_BIN:-}" ]]; then
    demo_step "use plugin binary $PLUGIN_BIN"
  else
    demo_step "build the plugin (make build)"
    make -C "$REPO_ROOT" --no-print-directory build
    PLUGIN_BIN="$REPO_ROOT/bin/vault-plugin-auth-kubernetes"
  fi
  [[ -x "$PLUGIN_BIN" ]] || die "plugin binary $PLUGIN_BIN does not exist or is not executable"
  PLUGIN_VERSION="$(plugin_version)"
fi

demo_step "start the stack (etcd :$ETCD_PORT, kube-apiserver :$KUBE_PORT, vault :$VAULT_PORT)"
"$SCRIPTS_DIR/stack-up.sh"
# The env file sets VAULT_ADDR, VAULT_TOKEN, KUBECONFIG, KUBE_HOST,
# KUBE_CA_FILE, VAULT_PLUGIN_DIR, ... for the steps below.
# shellcheck source=/dev/null
source "$STACK_DIR/env"
# shellcheck disable=SC2153 # KUBE_HOST and friends come from the env file.
: "${KUBE_HOST:?} ${KUBE_CA_FILE:?} ${VAULT_PLUGIN_DIR:?} ${KUBECONFIG:?}"
vault status >/dev/null || die "vault at $VAULT_ADDR does not answer"

# Re-mounting on every run gives the new plugin binary and a clean config/role
# set; the stack itself is reused when it is already up.
# (Captured first: `vault ... | grep -q` would fail under pipefail whenever
# grep stops reading early.)
mounts="$(vault auth list -format=json)"
if grep -q "\"$MOUNT/\"" <<<"$mounts"; then
  demo_step "disable the auth/$MOUNT mount left by an earlier run"
  vault auth disable "$MOUNT"
fi

if [[ "$PLUGIN_BUILTIN" == 1 ]]; then
  demo_step "enable Vault's built-in kubernetes auth method at auth/$MOUNT (PLUGIN_BUILTIN=1)"
  vault auth enable -path="$MOUNT" "$PLUGIN_NAME"
else
  demo_step "register $PLUGIN_NAME $PLUGIN_VERSION in Vault's plugin catalog"
  # Copy then rename: a plugin process of an earlier run may still be
  # executing the old file, and overwriting a running binary fails.
  cp "$PLUGIN_BIN" "$VAULT_PLUGIN_DIR/.$PLUGIN_NAME.tmp"
  mv -f "$VAULT_PLUGIN_DIR/.$PLUGIN_NAME.tmp" "$VAULT_PLUGIN_DIR/$PLUGIN_NAME"
  sha="$(sha256sum "$VAULT_PLUGIN_DIR/$PLUGIN_NAME" | cut -d' ' -f1)"
  vault plugin register -sha256="$sha" -version="$PLUGIN_VERSION" \
    -command="$PLUGIN_NAME" auth "$PLUGIN_NAME"
  vault plugin info -version="$PLUGIN_VERSION" auth "$PLUGIN_NAME"

  demo_step "enable $PLUGIN_NAME at auth/$MOUNT"
  vault auth enable -path="$MOUNT" -plugin-version="$PLUGIN_VERSION" "$PLUGIN_NAME"
fi
# type, plugin_version and running_sha256 show which binary serves the mount.
vault read "sys/auth/$MOUNT"

demo_step "install the token reviewer as an operator would: kubectl apply -f deploy/kubernetes/reviewer.yaml"
# The manifest an operator applies in every cluster: namespace $REVIEWER_NS,
# service account $REVIEWER_SA, bound to system:auth-delegator (create
# tokenreviews). The demo's role needs nothing from deploy/kubernetes/optional/.
kubectl apply -f "$REPO_ROOT/deploy/kubernetes/reviewer.yaml"

demo_step "mint the reviewer's token for a Vault outside the cluster (kubectl -n $REVIEWER_NS create token $REVIEWER_SA --duration=24h)"
# deploy/kubernetes/README.md offers two tokens for a Vault outside the
# cluster: the long-lived Secret of outside-cluster/, which Kubernetes'
# token controller fills, or a shorter-lived one from TokenRequest. This
# stack runs no kube-controller-manager, so the Secret would stay empty:
# the demo takes the second, as that README writes it.
reviewer_jwt="$(kubectl -n "$REVIEWER_NS" create token "$REVIEWER_SA" --duration=24h)"
printf 'reviewer token: %s...%s (%s chars)\n' "${reviewer_jwt:0:16}" "${reviewer_jwt: -8}" "${#reviewer_jwt}"

demo_step "configure auth/$MOUNT/config (kubernetes_host, kubernetes_ca_cert, token_reviewer_jwt)"
vault write "auth/$MOUNT/config" \
  kubernetes_host="$KUBE_HOST" \
  kubernetes_ca_cert=@"$KUBE_CA_FILE" \
  token_reviewer_jwt="$reviewer_jwt"

demo_step "write two secrets: secret/$ALLOWED_PATH and secret/$FORBIDDEN_PATH"
vault kv put -mount=secret "$ALLOWED_PATH" message="hello from Vault: only role $ROLE may read this" >/dev/null
vault kv put -mount=secret "$FORBIDDEN_PATH" message="you should never see this" >/dev/null
vault kv list -mount=secret demo

demo_step "write policy $POLICY (read secret/$ALLOWED_PATH only)"
vault policy write "$POLICY" - <<EOF
path "secret/data/$ALLOWED_PATH" {
  capabilities = ["read"]
}
EOF

demo_step "write role auth/$MOUNT/role/$ROLE (SA $APP_NS/$APP_SA, audience vault, policy $POLICY)"
vault write "auth/$MOUNT/role/$ROLE" \
  bound_service_account_names="$APP_SA" \
  bound_service_account_namespaces="$APP_NS" \
  token_policies="$POLICY" \
  audience=vault \
  ttl=15m
vault read "auth/$MOUNT/role/$ROLE"

demo_step "create namespace $APP_NS and workload service account $APP_SA"
kubectl apply -f - <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $APP_NS
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: $APP_SA
  namespace: $APP_NS
EOF

demo_step "mint the workload's token with TokenRequest audience 'vault' (kubectl create token --audience vault)"
app_jwt="$(kubectl create token "$APP_SA" -n "$APP_NS" --audience vault --duration=1h)"
# Show the claims Vault will check: the payload is the JWT's middle part.
payload="${app_jwt#*.}"
payload="${payload%%.*}"
payload="$(printf '%s' "$payload" | tr '_-' '/+')"
while (($(printf '%s' "$payload" | wc -c) % 4)); do payload+="="; done
printf 'workload token claims: %s\n' "$(printf '%s' "$payload" | base64 -d 2>/dev/null || echo '(undecodable)')"

demo_step "log in: vault write auth/$MOUNT/login role=$ROLE jwt=<workload token>"
# Show the login response itself (token, policies, token_meta_*), then take
# the client token from its "token" row.
login_out="$(vault write "auth/$MOUNT/login" role="$ROLE" jwt="$app_jwt")"
printf '%s\n' "$login_out"
client_token="$(awk '$1 == "token" { print $2 }' <<<"$login_out")"
[[ -n "$client_token" ]] || die "login returned no client token"

# expect_http reads Vault path $2 with the workload's token via plain HTTP and
# checks the status code is $1; the body is shown either way.
expect_http() {
  local want="$1" path="$2" body code
  body="$(curl -sS -w '\n%{http_code}' -H "X-Vault-Token: $client_token" "$VAULT_ADDR/v1/$path")"
  code="${body##*$'\n'}"
  body="${body%$'\n'*}"
  printf 'GET /v1/%s -> HTTP %s\n%s\n' "$path" "$code" "$body"
  [[ "$code" == "$want" ]] || die "expected HTTP $want for /v1/$path, got $code"
}

demo_step "read secret/$ALLOWED_PATH with the workload's Vault token (curl, X-Vault-Token): expect 200"
expect_http 200 "secret/data/$ALLOWED_PATH"

demo_step "read secret/$FORBIDDEN_PATH with the same token: expect 403 (policy does not allow it)"
expect_http 403 "secret/data/$FORBIDDEN_PATH"

if [[ "$PLUGIN_BUILTIN" != 1 ]]; then
  demo_step "check the config against the live cluster: vault read auth/$MOUNT/config/check"
  # An operator's read (it needs a Vault token): the API server, its CA, the
  # clock, the reviewer and its RBAC, the issuer and pem_keys, each passed,
  # failed, warning or skipped (does not apply to this config), with the fix
  # for each problem. YAML keeps the list of checks readable.
  vault read -format=yaml -field=checks "auth/$MOUNT/config/check"
  verdict="$(vault read -field=verdict "auth/$MOUNT/config/check")"
  printf 'verdict: %s\n' "$verdict"
  [[ "$verdict" == ok:* ]] || die "config/check found problems: $verdict"
fi

if [[ "$PLUGIN_BUILTIN" != 1 ]]; then
  demo_step "explain a refused login: vault write auth/$MOUNT/explain role=$ROLE jwt=<token for the API server's audience, not 'vault'>"
  # A dry-run login for operators (it needs a Vault token; nothing is
  # issued or stored): every step in order with its outcome, the reason
  # code the log records and why. This token was minted without
  # --audience vault, so the role refuses it at the audience step.
  wrong_aud_jwt="$(kubectl create token "$APP_SA" -n "$APP_NS" --duration=10m)"
  vault write -format=yaml -field=steps "auth/$MOUNT/explain" role="$ROLE" jwt="$wrong_aud_jwt"
  outcome="$(vault write -field=outcome "auth/$MOUNT/explain" role="$ROLE" jwt="$wrong_aud_jwt")"
  verdict="$(vault write -field=verdict "auth/$MOUNT/explain" role="$ROLE" jwt="$wrong_aud_jwt")"
  printf 'verdict: %s\n' "$verdict"
  [[ "$outcome" == refused && "$verdict" == *audience_mismatch* ]] || die "explain did not report the audience refusal: $outcome: $verdict"
fi

current_step=""
printf '\n' >&2
step "demo OK: the stack is still up"
cat <<EOF
  export VAULT_ADDR=$VAULT_ADDR
  export VAULT_TOKEN=$VAULT_TOKEN
  export KUBECONFIG=$KUBECONFIG
  (or: source $STACK_DIR/env)
  vault CLI: $VAULT_BIN
  kubectl:   $KUBECTL_BIN
  make down to stop
EOF
