// Package ops holds the operations suite: the plugin run the way Vault
// operators run it for years (a persistent and a three-node Raft Vault,
// plugin upgrades, a switch-over from Vault's built-in method, Kubernetes API
// outages, a killed plugin process, in-pod credentials and sustained load),
// each as an end-to-end test against real Vault, kube-apiserver and etcd
// processes. It lives in the e2e module, so the plugin's go.mod does not
// carry Vault's API client or client-go's test needs. See README.md.
package ops
