// Package satoken reads and checks Kubernetes service-account tokens: it
// parses the login JWT (only the algorithms Kubernetes signs with, claims
// read the way the API server reads them), checks its times, issuer,
// audience and signature, reads the workload's Identity from its claims,
// and holds a TokenReview's answer against them. It also parses the
// PEM keys and CA bundles a config holds, strictly when an operator writes
// them and as Vault's built-in method does when they are read from storage.
// Each check answers with a refusal naming its reason code; nothing here
// calls Kubernetes or reads storage.
package satoken
