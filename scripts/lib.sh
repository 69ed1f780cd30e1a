# shellcheck shell=bash
# Variables set here are used by the scripts that source this file:
# shellcheck disable=SC2034
# Shared helpers for the real-stack scripts (build-stack.sh, stack-up.sh,
# stack-down.sh, demo.sh). Sourced, never run: it sets no shell options of its
# own so each script keeps its `set -euo pipefail`.

# Paths. Everything is derived from this file's location so the scripts work
# from any working directory (make, CI, a test harness).
SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPTS_DIR/.." && pwd)"
STACK_SRC="$SCRIPTS_DIR/stack"

# Built binaries are cached by version so only the first run pays the build.
# .cache/ is git-ignored.
KUBEAUTH_CACHE="${KUBEAUTH_CACHE:-$REPO_ROOT/.cache/stack}"
STACK_BIN_DIR="$KUBEAUTH_CACHE/bin"

# Runtime state of one stack: PIDs, logs, certificates, kubeconfig, env file.
# A test harness runs a second stack beside the demo's by setting STACK_DIR and
# the ports below.
STACK_DIR="${STACK_DIR:-$REPO_ROOT/.cache/run}"
ETCD_PORT="${ETCD_PORT:-2379}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-$((ETCD_PORT + 1))}"
KUBE_PORT="${KUBE_PORT:-6443}"
VAULT_PORT="${VAULT_PORT:-8200}"
for _port_var in ETCD_PORT ETCD_PEER_PORT KUBE_PORT VAULT_PORT; do
  if [[ ! "${!_port_var}" =~ ^[0-9]+$ ]] || ((${!_port_var} < 1 || ${!_port_var} > 65534)); then
    printf 'ERROR: %s=%s is not a usable TCP port\n' "$_port_var" "${!_port_var}" >&2
    exit 1
  fi
done
unset _port_var
# Vault -dev also binds a cluster port at listen port + 1; it is checked too so
# a clash there is reported by name instead of failing deep in Vault's log.
VAULT_CLUSTER_PORT="$((VAULT_PORT + 1))"

# How long to wait for each component to become ready. Measured: etcd < 1 s,
# apiserver 2.5-3.5 s, vault dev ~1 s; the margin covers a loaded CI machine.
STACK_READY_TIMEOUT="${STACK_READY_TIMEOUT:-90}"

# The service-account token issuer the apiserver signs with; tests compare the
# JWT `iss` claim against it.
KUBE_SA_ISSUER="https://kubernetes.default.svc.cluster.local"

# ---------------------------------------------------------------------------
# Logging. Everything goes to stderr so stdout stays usable for values.

# ts prints the wall-clock time used as a prefix on progress lines.
ts() { date '+%H:%M:%S'; }

# step announces a demo/stack step the way the demo's reader follows it.
step() { printf '==> %s\n' "$*" >&2; }

# info prints a timestamped progress line.
info() { printf '[%s] %s\n' "$(ts)" "$*" >&2; }

# warn prints a timestamped warning.
warn() { printf '[%s] WARNING: %s\n' "$(ts)" "$*" >&2; }

# die prints an error and exits non-zero.
die() {
  printf '[%s] ERROR: %s\n' "$(ts)" "$*" >&2
  exit 1
}

# show_log_tail prints the last lines of a component's log under a header, so
# a failure message carries the cause without the reader opening files.
show_log_tail() {
  local name="$1" file="$2" lines="${3:-30}"
  if [[ -s "$file" ]]; then
    printf -- '----- last %s lines of %s (%s) -----\n' "$lines" "$name" "$file" >&2
    tail -n "$lines" "$file" >&2
    printf -- '----- end of %s log -----\n' "$name" >&2
  else
    printf -- '(%s log %s is empty or missing)\n' "$name" "$file" >&2
  fi
}

# ---------------------------------------------------------------------------
# Versions. The wrapper modules' go.mod files are the single source of truth:
# bumping a component means editing its go.mod (and go.sum), nothing else.

# gomod_version prints the version that scripts/stack/<component>/go.mod
# requires for module $2 (single-line or block require form).
gomod_version() {
  local component="$1" module="$2" v
  v="$(awk -v m="$module" '
    $1 == "require" && $2 == m { print $3; exit }
    $1 == m && $2 ~ /^v/       { print $2; exit }
  ' "$STACK_SRC/$component/go.mod")"
  [[ -n "$v" ]] || die "cannot find $module in $STACK_SRC/$component/go.mod"
  printf '%s\n' "$v"
}

ETCD_VERSION="$(gomod_version etcd go.etcd.io/etcd/server/v3)"
KUBE_VERSION="$(gomod_version kube-apiserver k8s.io/kubernetes)"
VAULT_VERSION="$(gomod_version vault github.com/hashicorp/vault)"
# The upstream plugin, built only for the benchmark (not part of the default
# set build-stack.sh builds for the demo and the tests).
UPSTREAM_PLUGIN_VERSION="$(gomod_version kubernetes-upstream github.com/hashicorp/vault-plugin-auth-kubernetes)"
PROMETHEUS_VERSION="$(gomod_version prometheus github.com/prometheus/prometheus)"

ETCD_BIN="$STACK_BIN_DIR/etcd-$ETCD_VERSION"
KUBE_APISERVER_BIN="$STACK_BIN_DIR/kube-apiserver-$KUBE_VERSION"
# kubectl is built from the same Kubernetes tree: the machine's own kubectl,
# if it has one at all, may be too far from the server's version.
KUBECTL_BIN="$STACK_BIN_DIR/kubectl-$KUBE_VERSION"
VAULT_BIN="$STACK_BIN_DIR/vault-$VAULT_VERSION"
UPSTREAM_PLUGIN_BIN="$STACK_BIN_DIR/vault-plugin-auth-kubernetes-upstream-$UPSTREAM_PLUGIN_VERSION"
# Prometheus and promtool are only for the end-to-end suite's scrape test,
# not part of the stack scripts/stack-up.sh starts.
PROMETHEUS_BIN="$STACK_BIN_DIR/prometheus-$PROMETHEUS_VERSION"
PROMTOOL_BIN="$STACK_BIN_DIR/promtool-$PROMETHEUS_VERSION"

# ---------------------------------------------------------------------------
# Processes and ports.

# port_in_use succeeds when something accepts TCP connections on 127.0.0.1:$1
# or any local socket is bound to that port (ss sees listeners that are bound
# to another address, e.g. 0.0.0.0, which a connect test could miss).
port_in_use() {
  local port="$1"
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]] && return 0
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# port_owner prints a short description of the process listening on $1, when
# ss can tell (it needs to be the same user or root).
port_owner() {
  local port="$1"
  command -v ss >/dev/null 2>&1 || return 0
  ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n 1
}

# live_pid prints the PID recorded in file $1 (named <component>.pid) when that
# process is running AND is still the component's binary
# (<component>-<version>): a stale PID file whose number was reused by an
# unrelated process must never be waited on or signaled.
live_pid() {
  local file="$1" pid exe component
  [[ -s "$file" ]] || return 1
  pid="$(<"$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  component="$(basename "$file" .pid)"
  if exe="$(readlink "/proc/$pid/exe" 2>/dev/null)"; then
    [[ "$(basename "$exe")" == "$component"-* ]] || return 1
  fi
  printf '%s\n' "$pid"
}

# pid_alive succeeds when live_pid finds the recorded process running.
pid_alive() { live_pid "$1" >/dev/null; }

# wait_until polls a command until it succeeds. It gives up after $1 seconds,
# or at once when the process whose PID file is $2 has exited (no point
# waiting for a component that crashed); returns 1 on timeout, 2 on exit.
# Usage:
#   wait_until 60 "$STACK_DIR/etcd.pid" curl -fsS ...
wait_until() {
  local timeout="$1" pidfile="$2"
  shift 2
  local deadline=$((SECONDS + timeout))
  while ! "$@" >/dev/null 2>&1; do
    if [[ -n "$pidfile" ]] && ! pid_alive "$pidfile"; then
      return 2
    fi
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.25
  done
}

# stop_pidfile stops the process recorded in $2 (component name $1): TERM,
# then KILL after a grace period, then removes the PID file. Only the
# recorded PID is signaled, never a process found by name.
stop_pidfile() {
  local name="$1" file="$2" pid i
  [[ -e "$file" ]] || return 0
  if pid="$(live_pid "$file")"; then
    info "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    # Vault and the apiserver shut down gracefully within a few seconds.
    for ((i = 0; i < 60; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      warn "$name (pid $pid) ignored SIGTERM for 15 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  else
    info "$name: not running (stale PID file removed)"
  fi
  rm -f "$file"
}
