# Real-stack targets (etcd + kube-apiserver + Vault on 127.0.0.1), included by
# the root Makefile. Scripts live in scripts/; see scripts/stack-up.sh for the
# ports and state directory. Every variable can be overridden on the command
# line or in the environment, e.g.
#   make up STACK_DIR=/tmp/stack2 ETCD_PORT=12379 KUBE_PORT=16443 VAULT_PORT=18200

STACK_SCRIPTS ?= $(CURDIR)/scripts
KUBEAUTH_CACHE ?= $(CURDIR)/.cache/stack
STACK_DIR ?= $(CURDIR)/.cache/run
ETCD_PORT ?= 2379
KUBE_PORT ?= 6443
VAULT_PORT ?= 8200

# The scripts read these from the environment.
export KUBEAUTH_CACHE STACK_DIR ETCD_PORT KUBE_PORT VAULT_PORT

.PHONY: stack stack-prometheus up down demo

## stack: build etcd, kube-apiserver, kubectl and Vault into $(KUBEAUTH_CACHE)/bin if missing
stack:
	$(STACK_SCRIPTS)/build-stack.sh

## stack-prometheus: build Prometheus and promtool (the e2e suite's scrape test) likewise
stack-prometheus:
	$(STACK_SCRIPTS)/build-stack.sh prometheus promtool

## up: start the stack (builds the binaries first if missing); no-op if already up
up: stack
	$(STACK_SCRIPTS)/stack-up.sh

## down: stop the stack started by `make up` / `make demo`
down:
	$(STACK_SCRIPTS)/stack-down.sh

## demo: build everything, start the stack, log a workload in through the plugin
demo:
	$(STACK_SCRIPTS)/demo.sh

.PHONY: bench-stack bench-curves

## bench-stack: issue 9's benchmark of record on a private stack: no-op plugin, upstream plugin, this plugin (always/cached/hybrid), built-in method, auth/token/create; distinct and repeat tokens; logins/s, p50/p99, TokenReviews and CPU per login, plugin CPU profile (scripts/bench.sh; BENCH_ARGS passed to loginbench)
bench-stack:
	$(STACK_SCRIPTS)/bench.sh $(BENCH_ARGS)

## bench-curves: cost as the work grows, on a private stack: logins/s, plugin CPU per login and memory as roles, clusters, namespaces, service accounts and a flood of bad tokens grow; one SVG chart each (scripts/bench-curves.sh; CURVES_ARGS passed to costcurves)
bench-curves:
	$(STACK_SCRIPTS)/bench-curves.sh $(CURVES_ARGS)
