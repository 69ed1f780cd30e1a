// Package realstack is the harness the e2e and ops suites share: the real
// stack (etcd, kube-apiserver and a dev-mode Vault started by
// scripts/stack-up.sh) brought up and torn down for one suite, its settings
// from the suite's own variables, and the Vault and Kubernetes helpers both
// suites' tests call. What only one suite needs stays in that suite.
package realstack
