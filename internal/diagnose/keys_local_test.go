package diagnose

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/clusterkeys"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// cluster_keys speaks for review_mode=local roles as for hybrid ones, and
// says what each does without the keys: hybrid reviews, local never does.
func TestClusterKeysNamesLocalRoles(t *testing.T) {
	refused := &kube.APIError{Status: http.StatusForbidden, Err: errors.New("forbidden")}
	cases := []struct {
		hybrid, local []string
		want          []string
	}{
		{[]string{"h"}, nil, []string{"review_mode=hybrid roles (h)", "review every token as cached does"}},
		{nil, []string{"l"}, []string{"review_mode=local roles (l)", "refuse or fail every login"}},
		{[]string{"h"}, []string{"l"}, []string{"hybrid roles (h) and review_mode=local roles (l)", "the local roles refuse or fail"}},
	}
	for _, c := range cases {
		r := ClusterKeys(KeysObserved{HybridRoles: c.hybrid, LocalRoles: c.local, KeysErr: refused})
		if r.Status != Warning {
			t.Errorf("%v/%v: status %s", c.hybrid, c.local, r.Status)
		}
		for _, w := range c.want {
			if !strings.Contains(r.Detail, w) {
				t.Errorf("%v/%v: detail %q lacks %q", c.hybrid, c.local, r.Detail, w)
			}
		}
	}
	// Local roles alone with jwks_url set: the jwks_url check speaks.
	c := &fakeClient{cred: kube.StaticToken("x")}
	for _, res := range Run(t.Context(), Target{Client: c, Settings: Settings{JWKSURL: true}, Now: time.Now, HeldKeys: noHeldKeys}, Usage{Local: []string{"l"}}) {
		if res.Name == CheckClusterKeys && (res.Status != Skipped || !strings.Contains(res.Detail, "jwks_url")) {
			t.Fatalf("cluster_keys with jwks_url: %+v", res)
		}
	}
	for _, res := range Run(t.Context(), Target{Client: c, Now: time.Now, HeldKeys: noHeldKeys}, Usage{Local: []string{"l"}}) {
		if res.Name == CheckClusterKeys && res.Status == Skipped {
			t.Fatalf("cluster_keys skipped for a local role reading the API server's keys: %s", res.Detail)
		}
	}
}

func noHeldKeys() clusterkeys.KeysStatus { return clusterkeys.KeysStatus{} }
