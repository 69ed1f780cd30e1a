#!/usr/bin/env bash
# Starts the real stack on 127.0.0.1: etcd, kube-apiserver (TLS, RBAC, its own
# service-account signing key) and Vault in dev mode, with all state under
# $STACK_DIR (default $REPO/.cache/run). Writes:
#   $STACK_DIR/kubeconfig   admin (O=system:masters) client-certificate config
#   $STACK_DIR/env          sourceable: VAULT_ADDR, VAULT_TOKEN, KUBECONFIG,
#                           KUBE_HOST, KUBE_CA_FILE, KUBE_SA_SIGNING_KEY, ...
#   $STACK_DIR/*.pid        the PIDs stack-down.sh stops
#   $STACK_DIR/logs/*.log   one log per component
#
# Ports: ETCD_PORT (2379), ETCD_PEER_PORT (ETCD_PORT+1), KUBE_PORT (6443),
# VAULT_PORT (8200; Vault also binds VAULT_PORT+1 for its cluster listener).
# A second stack runs beside the first with another STACK_DIR and ports.
#
# If this stack (same STACK_DIR) is already up and healthy, this is a no-op
# that rewrites the env file, so `make demo` can run again and again. Pass
# --restart to stop it and start a fresh one (empty etcd, empty Vault).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

restart=false
case "${1:-}" in
  "") ;;
  --restart) restart=true ;;
  *) die "usage: $0 [--restart]" ;;
esac

for tool in openssl curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required but not on PATH"
done
for bin in "$ETCD_BIN" "$KUBE_APISERVER_BIN" "$KUBECTL_BIN" "$VAULT_BIN"; do
  [[ -x "$bin" ]] || die "$bin is missing: run scripts/build-stack.sh (make stack) first"
done

PKI_DIR="$STACK_DIR/pki"
CERT_DIR="$STACK_DIR/apiserver-certs"
LOG_DIR="$STACK_DIR/logs"
ETCD_DATA="$STACK_DIR/etcd-data"
PLUGIN_DIR="$STACK_DIR/plugins"
KUBECONFIG_FILE="$STACK_DIR/kubeconfig"
ENV_FILE="$STACK_DIR/env"
KUBE_HOST="https://127.0.0.1:$KUBE_PORT"
VAULT_ADDR_URL="http://127.0.0.1:$VAULT_PORT"
# kube-apiserver --cert-dir writes a self-signed serving certificate here: the
# leaf first, then the CA that signed it (see kube_ca_file below).
KUBE_SERVING_BUNDLE="$CERT_DIR/apiserver.crt"
KUBE_CA_FILE="$CERT_DIR/ca.crt"

# ---------------------------------------------------------------------------
# Health checks, also used to decide whether the stack is already up.

etcd_healthy() {
  local out
  out="$(curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health")" || return 1
  [[ "$out" == *'"health":"true"'* ]]
}

kube_ready() {
  [[ -s "$PKI_DIR/admin.crt" ]] || return 1
  # -k: until the apiserver has written its serving CA there is nothing to
  # verify against; readiness is all that is checked here, over loopback.
  local out
  out="$(curl -fsS -k --max-time 3 --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" \
    "$KUBE_HOST/readyz")" || return 1
  [[ "$out" == ok ]]
}

vault_ready() {
  VAULT_ADDR="$VAULT_ADDR_URL" VAULT_TOKEN=root "$VAULT_BIN" status >/dev/null 2>&1
}

stack_running() {
  pid_alive "$STACK_DIR/etcd.pid" && pid_alive "$STACK_DIR/kube-apiserver.pid" &&
    pid_alive "$STACK_DIR/vault.pid" && etcd_healthy && kube_ready && vault_ready
}

# ---------------------------------------------------------------------------
# Files.

# make_pki creates, once per state dir, the client CA with the admin client
# certificate (O=system:masters is what grants cluster-admin under RBAC) and
# the service-account signing key pair. Kept across restarts: regenerating
# them gains nothing and would invalidate kubeconfigs other tools copied.
make_pki() {
  mkdir -p "$PKI_DIR"
  if [[ -s "$PKI_DIR/ca.crt" && -s "$PKI_DIR/admin.crt" && -s "$PKI_DIR/sa.key" && -s "$PKI_DIR/sa.pub" ]]; then
    return 0
  fi
  info "generating client CA, admin certificate and service-account key pair in $PKI_DIR"
  (
    cd "$PKI_DIR"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -keyout ca.key -out ca.crt -subj "/CN=kubeauth-stack-client-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -sha256 \
      -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=kubeauth-stack-admin" 2>/dev/null
    printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >admin.ext
    openssl x509 -req -sha256 -days 3650 -in admin.csr -CA ca.crt -CAkey ca.key \
      -CAcreateserial -extfile admin.ext -out admin.crt 2>/dev/null
    rm -f admin.csr admin.ext ca.srl
    # PKCS#1 ("BEGIN RSA PRIVATE KEY"): what both the apiserver and hand-written
    # test token signers parse without guessing the format.
    openssl genrsa -traditional -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  ) || die "openssl failed while generating $PKI_DIR"
}

# kube_ca_file extracts the CA certificate (the last PEM block) from the
# apiserver's self-signed serving bundle, so clients get a CA file that holds
# only the CA, as Vault's kubernetes_ca_cert and curl --cacert expect.
kube_ca_file() {
  awk '
    /-----BEGIN CERTIFICATE-----/ { block = "" }
    { block = block $0 "\n" }
    /-----END CERTIFICATE-----/ { last = block }
    END { printf "%s", last }
  ' "$KUBE_SERVING_BUNDLE" >"$KUBE_CA_FILE.tmp"
  [[ -s "$KUBE_CA_FILE.tmp" ]] || die "no certificate found in $KUBE_SERVING_BUNDLE"
  mv -f "$KUBE_CA_FILE.tmp" "$KUBE_CA_FILE"
}

write_kubeconfig() {
  local kc="$KUBECONFIG_FILE.tmp"
  rm -f "$kc"
  "$KUBECTL_BIN" config --kubeconfig "$kc" set-cluster stack --server "$KUBE_HOST" \
    --certificate-authority "$KUBE_CA_FILE" --embed-certs >/dev/null
  "$KUBECTL_BIN" config --kubeconfig "$kc" set-credentials admin \
    --client-certificate "$PKI_DIR/admin.crt" --client-key "$PKI_DIR/admin.key" --embed-certs >/dev/null
  "$KUBECTL_BIN" config --kubeconfig "$kc" set-context stack --cluster stack --user admin >/dev/null
  "$KUBECTL_BIN" config --kubeconfig "$kc" use-context stack >/dev/null
  chmod 600 "$kc"
  mv -f "$kc" "$KUBECONFIG_FILE"
}

# write_env writes the sourceable env file a test harness reads. Values are
# shell-quoted so paths with spaces survive `source`.
write_env() {
  local tmp="$ENV_FILE.tmp"
  {
    printf '# Written by scripts/stack-up.sh; source it: . %q\n' "$ENV_FILE"
    local kv
    for kv in \
      "STACK_DIR=$STACK_DIR" \
      "VAULT_ADDR=$VAULT_ADDR_URL" \
      "VAULT_TOKEN=root" \
      "VAULT_BIN=$VAULT_BIN" \
      "VAULT_PLUGIN_DIR=$PLUGIN_DIR" \
      "KUBECTL_BIN=$KUBECTL_BIN" \
      "PROMETHEUS_BIN=$PROMETHEUS_BIN" \
      "PROMTOOL_BIN=$PROMTOOL_BIN" \
      "KUBECONFIG=$KUBECONFIG_FILE" \
      "KUBE_HOST=$KUBE_HOST" \
      "KUBE_CA_FILE=$KUBE_CA_FILE" \
      "KUBE_SA_ISSUER=$KUBE_SA_ISSUER" \
      "KUBE_SA_SIGNING_KEY=$PKI_DIR/sa.key" \
      "KUBE_SA_PUBLIC_KEY=$PKI_DIR/sa.pub" \
      "KUBE_ADMIN_CERT=$PKI_DIR/admin.crt" \
      "KUBE_ADMIN_KEY=$PKI_DIR/admin.key" \
      "ETCD_ENDPOINT=http://127.0.0.1:$ETCD_PORT" \
      "ETCD_PORT=$ETCD_PORT" \
      "KUBE_PORT=$KUBE_PORT" \
      "VAULT_PORT=$VAULT_PORT"; do
      printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    done
  } >"$tmp"
  mv -f "$tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------------------
# Processes.

# start_component launches one component detached from this script's session
# (setsid: a Ctrl-C in the terminal that ran `make up` must not take the stack
# down with it; stack-down.sh does that) and records its PID.
start_component() {
  local name="$1"
  shift
  local log="$LOG_DIR/$name.log"
  : >"$log"
  setsid "$@" </dev/null >>"$log" 2>&1 &
  printf '%s\n' "$!" >"$STACK_DIR/$name.pid"
  info "started $name (pid $!, log $log)"
}

# await reports a component that never became ready, with the tail of its
# log, stops what was started and exits.
await() {
  local name="$1" port="$2" check="$3" rc=0 start=$SECONDS
  wait_until "$STACK_READY_TIMEOUT" "$STACK_DIR/$name.pid" "$check" || rc=$?
  if ((rc == 0)); then
    info "$name ready on 127.0.0.1:$port ($((SECONDS - start)) s)"
    return 0
  fi
  if ((rc == 2)); then
    printf '[%s] ERROR: %s exited during startup (port %s)\n' "$(ts)" "$name" "$port" >&2
  else
    printf '[%s] ERROR: %s not ready on 127.0.0.1:%s after %s s\n' "$(ts)" "$name" "$port" "$STACK_READY_TIMEOUT" >&2
  fi
  show_log_tail "$name" "$LOG_DIR/$name.log"
  stop_all
  exit 1
}

stop_all() {
  stop_pidfile vault "$STACK_DIR/vault.pid"
  stop_pidfile kube-apiserver "$STACK_DIR/kube-apiserver.pid"
  stop_pidfile etcd "$STACK_DIR/etcd.pid"
}

# check_ports fails before anything starts when a port is taken, naming the
# port, the component that needs it and, when visible, who holds it.
check_ports() {
  local entry port name owner busy=0
  for entry in "etcd client:$ETCD_PORT" "etcd peer:$ETCD_PEER_PORT" "kube-apiserver:$KUBE_PORT" \
    "vault:$VAULT_PORT" "vault cluster:$VAULT_CLUSTER_PORT"; do
    name="${entry%:*}"
    port="${entry##*:}"
    if port_in_use "$port"; then
      owner="$(port_owner "$port")"
      printf '[%s] ERROR: port %s (%s) is already in use%s\n' "$(ts)" "$port" "$name" \
        "${owner:+ by $owner}" >&2
      busy=1
    fi
  done
  if ((busy)); then
    die "cannot start the stack in $STACK_DIR; free the port(s) or choose others (ETCD_PORT, ETCD_PEER_PORT, KUBE_PORT, VAULT_PORT)"
  fi
}

# ---------------------------------------------------------------------------

mkdir -p "$STACK_DIR"

if ! $restart && stack_running; then
  write_env
  info "stack already up in $STACK_DIR (etcd :$ETCD_PORT, kube-apiserver :$KUBE_PORT, vault :$VAULT_PORT); nothing to do"
  info "env: source $ENV_FILE"
  exit 0
fi

# Whatever part of this stack is still around (a crashed component, or
# --restart) is stopped, so the start below is a clean one.
stop_all
check_ports
make_pki

# Fresh state each start: an empty etcd (Vault dev is in-memory anyway) and an
# empty plugin directory, so no run sees leftovers of an earlier one.
rm -rf "$ETCD_DATA" "$PLUGIN_DIR" "$LOG_DIR" "$KUBECONFIG_FILE" "$ENV_FILE"
mkdir -p "$LOG_DIR" "$PLUGIN_DIR" "$CERT_DIR"

start_component etcd "$ETCD_BIN" \
  --name stack \
  --data-dir "$ETCD_DATA" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "stack=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync
await etcd "$ETCD_PORT" etcd_healthy

start_component kube-apiserver "$KUBE_APISERVER_BIN" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 \
  --advertise-address 127.0.0.1 \
  --secure-port "$KUBE_PORT" \
  --cert-dir "$CERT_DIR" \
  --client-ca-file "$PKI_DIR/ca.crt" \
  --service-account-issuer "$KUBE_SA_ISSUER" \
  --service-account-key-file "$PKI_DIR/sa.pub" \
  --service-account-signing-key-file "$PKI_DIR/sa.key" \
  --api-audiences "$KUBE_SA_ISSUER" \
  --authorization-mode Node,RBAC \
  --service-cluster-ip-range 10.96.0.0/16 \
  --endpoint-reconciler-type none
await kube-apiserver "$KUBE_PORT" kube_ready
kube_ca_file
write_kubeconfig

# -dev-no-store-token: do not write ~/.vault-token; the env file carries the
# token instead, so two stacks never fight over one file in $HOME.
start_component vault "$VAULT_BIN" server -dev \
  -dev-root-token-id=root \
  -dev-listen-address="127.0.0.1:$VAULT_PORT" \
  -dev-plugin-dir="$PLUGIN_DIR" \
  -dev-no-store-token
await vault "$VAULT_PORT" vault_ready

write_env
info "stack up in $STACK_DIR: etcd :$ETCD_PORT, kube-apiserver :$KUBE_PORT, vault :$VAULT_PORT"
info "env: source $ENV_FILE"
