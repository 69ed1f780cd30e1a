// Package e2e holds the end-to-end tests: the plugin binary inside a real
// Vault, verifying tokens of a real kube-apiserver, driven through Vault's
// HTTP API and real clients. Its own module so the plugin's go.mod does not
// carry Vault's API client; run it with `make e2e-test`.
package e2e
