# The verbs a newcomer types. `make demo` and `make test` are the two the
# README promises work on a fresh machine.

MODULE   := github.com/kubeauth/vault-plugin-auth-kubernetes
BINARY   := bin/vault-plugin-auth-kubernetes
# The version Vault's catalog records; must be a v-prefixed semantic version
# or `vault plugin register -version=...` rejects it.
VERSION  ?= v0.1.0
# The same flags as scripts/release: `make build` gives the released bytes
# for this machine's platform (e2e checks the two agree).
LDFLAGS  := -s -w -buildid= -X $(MODULE).Version=$(VERSION)
GO       ?= go
# golangci-lint v2, run through the module proxy so nothing needs installing.
GOLANGCI ?= $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

export CGO_ENABLED ?= 0

.PHONY: all build build-fips test-fips release verify-release image image-check release-test test unit-test rules-test fuzz-smoke fuzz e2e-test ops-test test-ops soak lint fmt fmt-check vet tidy-check bench bench-unit print-version clean

all: build

## build: compile the plugin into bin/; FIPS=1 also builds bin/vault-plugin-auth-kubernetes-fips (build-fips)
build: $(if $(FIPS),build-fips)
	@mkdir -p bin
	$(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o $(BINARY) ./cmd/vault-plugin-auth-kubernetes

## build-fips: the plugin built with Go's FIPS 140-3 module GOFIPS140=$(FIPS_MODULE) (README.md, FIPS 140-3)
FIPS ?=
FIPS_MODULE ?= v1.0.0
FIPS_BINARY := $(BINARY)-fips
build-fips:
	@mkdir -p bin
	GOFIPS140=$(FIPS_MODULE) $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o $(FIPS_BINARY) ./cmd/vault-plugin-auth-kubernetes

## release: reproducible release artifacts in $(DIST) for RELEASE_PLATFORMS: per platform
## vault-plugin-auth-kubernetes_<version without v>_<os>_<arch>.zip, the binary unpacked beside
## it and its CycloneDX SBOM (.sbom.cdx.json) (scripts/release, then tools/release); the OCI
## image of the linux platforms with its SBOM attached (tools/image); ..._SHA256SUMS over all of
## them; the in-toto provenance (..._provenance.intoto.json); and, with SIGNING_KEY=<file with an
## armored OpenPGP private key>, a detached signature (.sig) of SHA256SUMS and of the provenance;
## FIPS=1 adds each platform built with GOFIPS140=$(FIPS_MODULE), as <os>_<arch>_fips
DIST ?= dist
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
SIGNING_KEY ?=
IMAGE_ARCHS := $(patsubst linux/%,%,$(filter linux/%,$(RELEASE_PLATFORMS)))
release:
	$(GO) run ./scripts/release -version $(VERSION) -out $(DIST) -platforms "$(RELEASE_PLATFORMS)" $(if $(FIPS),-fips $(FIPS_MODULE))
	rm -rf $(abspath $(DIST))/vault-plugin-auth-kubernetes_$(VERSION:v%=%)_oci
	$(if $(IMAGE_ARCHS),cd tools/image && $(GO) run . -dist $(abspath $(DIST)) -version $(VERSION) -archs "$(IMAGE_ARCHS)")
	cd tools/release && $(GO) run ./cmd/attest -src $(CURDIR) -dist $(abspath $(DIST)) -version $(VERSION) $(if $(SIGNING_KEY),-signing-key $(abspath $(SIGNING_KEY)))

## verify-release: scripts/verify-release on $(DIST); PUBLIC_KEY=<file> checks the signatures too
verify-release:
	scripts/verify-release $(DIST) $(PUBLIC_KEY)

## image: the OCI image (linux/amd64, linux/arm64) as an OCI layout in $(DIST), built from
## the release binaries without a container daemon (tools/image, a module of its own); part
## of `make release`, whose SHA256SUMS lists its files
image: release

## image-check: open the image and check each binary against SHA256SUMS, its ELF
## architecture, and that this machine's runs -version and -install; then verify the
## whole release as an operator would (scripts/verify-release)
image-check: image
	cd tools/image && $(GO) vet ./... && KUBEAUTH_DIST=$(abspath $(DIST)) KUBEAUTH_VERSION=$(VERSION) $(GO) test -count=1 ./...
	scripts/verify-release $(DIST)

## print-version: the version `make build` stamps into the binary
print-version:
	@echo $(VERSION)

## test: everything CI runs (format, vet, unit tests with -race, the Prometheus rules, every
## fuzz target briefly, the release and its image checked, end-to-end tests)
test: fmt-check vet unit-test rules-test fuzz-smoke release-test image-check e2e-test ops-test

## unit-test: the plugin's unit tests with the race detector, and the load tool's
unit-test:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...
	cd bench && $(GO) test -count=1 ./...

## rules-test: deploy/prometheus: `promtool check rules` and `promtool test rules` (promtool built
## into the stack cache the first time), then the check that the rules, their tests and the
## dashboard name only series the plugin exports (deploy/prometheus/check, a module of its own)
rules-test:
	$(STACK_SCRIPTS)/build-stack.sh promtool
	bash -c 'source $(STACK_SCRIPTS)/lib.sh && cd deploy/prometheus && "$$PROMTOOL_BIN" check rules kubeauth.rules.yml && "$$PROMTOOL_BIN" test rules kubeauth.rules_test.yml'
	cd deploy/prometheus/check && $(GO) vet ./... && $(GO) test -count=1 ./...

## release-test: `make release` with a throwaway signing key and again, unsigned, from a clean
## copy of the source in another directory and time zone: the same bytes; the signatures checked
## with gpgv and scripts/verify-release, and tampered files, a wrong key and a mismatched SBOM
## refused (tools/release; needs gpgv, see CONTRIBUTING.md)
release-test:
	cd tools/release && $(GO) vet ./... && KUBEAUTH_RELEASE_TEST=1 $(GO) test -count=1 -timeout 30m ./...

## test-fips: the unit tests of the plugin's packages built with GOFIPS140=$(FIPS_MODULE) and run
## with GODEBUG=fips140=only (scripts/test-fips.sh: which tests it leaves out, and why)
test-fips:
	FIPS_MODULE=$(FIPS_MODULE) scripts/test-fips.sh

## fuzz-smoke: every fuzz target for FUZZ_SMOKE_TIME (default 3s) each, as part of make test
FUZZ_SMOKE_TIME ?= 3s
fuzz-smoke:
	FUZZTIME=$(FUZZ_SMOKE_TIME) scripts/fuzz.sh

## fuzz: every fuzz target for FUZZTIME (default 10m) each; FUZZ=FuzzParseToken picks targets by regexp
FUZZTIME ?= 10m
FUZZ ?= .
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh '$(FUZZ)'

## e2e-test: the plugin inside a real Vault against a real kube-apiserver, scraped by a
## real Prometheus, installed from the release as the README says (e2e/ is its own module; it starts and stops a stack of its own, see
## e2e/README.md). The module's root package and its harness (internal/): e2e/ops is ops-test's, and the two
## suites run one after the other so neither's timing checks see the other's load.
e2e-test: build build-fips release stack stack-prometheus
	cd e2e && $(GO) vet ./... && $(GO) test -count=1 -timeout 30m . ./internal/...
	cd e2e && $(GO) test -count=1 -skip '^TestSoak$$' ./soak/

## ops-test: restarts, upgrades, switch-over, a 3-node Raft cluster, Kubernetes API
## outages, a killed plugin process, in-pod credentials and load (e2e/ops/README.md)
ops-test: build stack
	cd e2e && $(GO) vet ./... && $(GO) test -count=1 -timeout 45m ./ops/

## test-ops: alias of ops-test
test-ops: ops-test

## soak: a day of production in SOAK_DURATION (default 30m) on a real stack: logins,
## writes and a schedule of faults; the report goes to docs/soak/ (docs/soak/README.md)
SOAK_DURATION ?= 30m
SOAK_TIMEOUT ?= 90m
soak: build stack
	cd e2e && SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -timeout $(SOAK_TIMEOUT) -v -run '^TestSoak$$' ./soak/

## vet: go vet over the plugin and the load tool (e2e-test vets e2e/)
vet:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

## lint: golangci-lint with .golangci.yml over the plugin, e2e and bench modules
lint:
	$(GOLANGCI) run ./...
	cd e2e && $(GOLANGCI) run --config ../.golangci.yml ./...
	cd bench && $(GOLANGCI) run --config ../.golangci.yml ./...
	cd tools/image && $(GOLANGCI) run --config ../../.golangci.yml ./...
	cd tools/release && $(GOLANGCI) run --config ../../.golangci.yml ./...
	cd deploy/prometheus/check && $(GOLANGCI) run --config ../../../.golangci.yml ./...

## fmt: rewrite Go files with gofmt
fmt:
	gofmt -s -w $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')

## fmt-check: fail when a Go file is not gofmt-clean (the same tool as `make fmt`)
fmt-check:
	@out="$$(gofmt -s -l $$(git ls-files --cached --others --exclude-standard '*.go'))"; \
	if [ -n "$$out" ]; then echo "not gofmt -s clean (run make fmt):"; echo "$$out"; exit 1; fi

## tidy-check: fail when go.mod/go.sum are not tidy
tidy-check:
	$(GO) mod tidy -diff

## bench: the in-process benchmark, then the real-stack benchmark of record (bench-stack)
bench: bench-unit bench-stack

## bench-unit: BenchmarkLogin against its in-process TokenReview baseline (see CONTRIBUTING.md)
bench-unit:
	$(GO) test -run '^$$' -bench 'BenchmarkLogin|BenchmarkTokenReviewOnly|BenchmarkLoginRateLimit' -benchmem -count 5 .

clean:
	rm -rf bin $(DIST)

-include scripts/stack.mk
