package ops

import (
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// token mints a one-hour token for the "vault" audience, what every role
// in this suite expects.
func token(t *testing.T, w realstack.Workload) string {
	t.Helper()
	tok, err := ops.RequestToken(realstack.KubeCtx(t), w.Namespace, w.SA.Name, realstack.TokenOptions{Audiences: []string{"vault"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
