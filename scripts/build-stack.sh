#!/usr/bin/env bash
# Builds the real stack's binaries (etcd, kube-apiserver, kubectl, Vault, and on
# request the upstream plugin, Prometheus and promtool) from the Go module proxy,
# each only when its versioned binary is not cached yet:
#   $KUBEAUTH_CACHE/bin/<name>-<version>   (default $REPO/.cache/stack/bin)
# None of them can be downloaded as a release binary here, so they are built
# from the wrapper modules under scripts/stack/<component>/ (see the comments
# in each go.mod). Builds run one after another: the machine has 2 cores and
# Vault alone needs ~4 GB of build cache and most of the cold build time.
#
# Usage: scripts/build-stack.sh [etcd|kube-apiserver|kubectl|vault|kubernetes-upstream|prometheus|promtool ...]
# Default: etcd, kube-apiserver, kubectl and vault, what the demo and every
# suite need. kubernetes-upstream (the upstream plugin, for scripts/bench.sh
# only) and prometheus and promtool (the end-to-end suite's scrape test) are
# built only when named.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v go >/dev/null 2>&1 || die "go is not on PATH; the stack is built with the Go toolchain"

# Static binaries: no dependency on the machine's libc or a C compiler, the
# same way the upstream projects build their releases.
export CGO_ENABLED=0
# The wrapper modules sit inside this git repository; stamping its VCS state
# into third-party binaries is meaningless and fails on a dirty or odd tree.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"

# build_one builds component $1 (a folder under scripts/stack) into binary $2.
# $3 is the first-time estimate shown to the user; the remaining arguments
# are passed to `go build` before the package path.
build_one() {
  local component="$1" bin="$2" estimate="$3" pkg="$4"
  shift 4
  local name version
  name="$(basename "$bin")"
  version="${name##*-}"
  name="${name%-*}"

  if [[ -x "$bin" ]]; then
    info "$name $version: cached ($bin)"
    return 0
  fi

  info "building $name $version (first time $estimate)..."
  local start=$SECONDS
  mkdir -p "$(dirname "$bin")"
  # Build to a temporary name and rename at the end, so an interrupted build
  # never leaves a truncated binary that later runs would take as cached.
  local tmp="$bin.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  if ! (cd "$STACK_SRC/$component" && go build -trimpath "$@" -o "$tmp" "$pkg"); then
    rm -f "$tmp"
    die "building $name $version failed after $((SECONDS - start)) s (wrapper module: $STACK_SRC/$component)"
  fi
  mv -f "$tmp" "$bin"
  trap - EXIT
  info "built $name $version in $((SECONDS - start)) s ($(du -h "$bin" | cut -f1))"
}

# kube-apiserver reports v0.0.0-master unless the version variables that the
# Kubernetes release scripts set are stamped in (both copies: component-base
# is what the server reports, client-go what its clients see).
kube_ldflags() {
  local v="$KUBE_VERSION" major minor pkg flags="-s -w"
  major="${v#v}"
  major="${major%%.*}"
  minor="${v#v*.}"
  minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s\n' "$flags"
}

# prometheus_ldflags stamps the module version into what `--version` prints
# (empty otherwise).
prometheus_ldflags() {
  printf '%s\n' "-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION"
}

want=("$@")
if ((${#want[@]} == 0)); then
  want=(etcd kube-apiserver kubectl vault)
fi

total_start=$SECONDS
for c in "${want[@]}"; do
  case "$c" in
    etcd)
      build_one etcd "$ETCD_BIN" "~1 min" . -ldflags "-s -w"
      ;;
    kube-apiserver)
      build_one kube-apiserver "$KUBE_APISERVER_BIN" "~4 min" \
        k8s.io/kubernetes/cmd/kube-apiserver -ldflags "$(kube_ldflags)"
      ;;
    kubectl)
      # Shares most packages with kube-apiserver: after it, ~1 min.
      build_one kube-apiserver "$KUBECTL_BIN" "~1-2 min" \
        k8s.io/kubernetes/cmd/kubectl -ldflags "$(kube_ldflags)"
      ;;
    vault)
      # Vault embeds its version from its own VERSION file; no -X needed.
      build_one vault "$VAULT_BIN" "~10 min" github.com/hashicorp/vault -ldflags "-s -w"
      ;;
    kubernetes-upstream)
      build_one kubernetes-upstream "$UPSTREAM_PLUGIN_BIN" "~2-4 min" \
        github.com/hashicorp/vault-plugin-auth-kubernetes/cmd/vault-plugin-auth-kubernetes -ldflags "-s -w"
      ;;
    prometheus)
      build_one prometheus "$PROMETHEUS_BIN" "~10-20 min" \
        github.com/prometheus/prometheus/cmd/prometheus -ldflags "$(prometheus_ldflags)"
      ;;
    promtool)
      # Shares most packages with prometheus: after it, about a minute.
      build_one prometheus "$PROMTOOL_BIN" "~1-2 min" \
        github.com/prometheus/prometheus/cmd/promtool -ldflags "$(prometheus_ldflags)"
      ;;
    *)
      die "unknown component '$c' (want etcd, kube-apiserver, kubectl, vault, kubernetes-upstream, prometheus or promtool)"
      ;;
  esac
done
info "stack binaries ready in $STACK_BIN_DIR ($((SECONDS - total_start)) s)"
