package diagnose

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/clusterkeys"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// fakeClient answers Run's calls from fields and counts the calls that
// need a usable API server and credential.
type fakeClient struct {
	down   bool // /version fails
	cred   kube.Credential
	whoErr error    // SelfSubjectReview's failure
	calls  []string // WhoAmI, MayI, Discovery, PublishedKeys, in order
	// addrs are the addresses (none: one, Host's); probes answer
	// ProbeAddress by index.
	addrs  []kube.AddressState
	probes []kube.Probe
	// addrKeys answer PublishedKeysAt by index (none: not published).
	addrKeys []AddressKeys
}

func (f *fakeClient) PublishedKeysAt(_ context.Context, i int) ([]kube.PublishedKey, error) {
	if i >= len(f.addrKeys) {
		return nil, &kube.APIError{Status: http.StatusNotFound, Err: errors.New("the server could not find the requested resource")}
	}
	return f.addrKeys[i].Keys, f.addrKeys[i].Err
}

func (f *fakeClient) Addresses() []kube.AddressState {
	if len(f.addrs) == 0 {
		return []kube.AddressState{{URL: f.Host()}}
	}
	return f.addrs
}

func (f *fakeClient) ProbeAddress(ctx context.Context, i int, now func() time.Time) kube.Probe {
	if len(f.probes) == 0 {
		return f.Probe(ctx, now)
	}
	return f.probes[i]
}

func (f *fakeClient) Probe(_ context.Context, now func() time.Time) kube.Probe {
	if f.down {
		return kube.Probe{Err: &kube.APIError{Err: errors.New("connection refused")}}
	}
	t := now()
	return kube.Probe{Status: http.StatusOK, Version: "v1.36.3", RoundTrip: time.Millisecond, VaultTime: t, Date: t, TLS: true}
}

func (f *fakeClient) Host() string                { return "https://10.0.0.1:6443" }
func (f *fakeClient) Credential() kube.Credential { return f.cred }

func (f *fakeClient) WhoAmI(context.Context) (authv1.UserInfo, error) {
	f.calls = append(f.calls, "WhoAmI")
	return authv1.UserInfo{Username: "system:serviceaccount:vault:vault-token-reviewer"}, f.whoErr
}

func (f *fakeClient) MayI(_ context.Context, attrs authzv1.ResourceAttributes) (authzv1.SubjectAccessReviewStatus, error) {
	f.calls = append(f.calls, "MayI "+attrs.Verb+" "+attrs.Resource)
	return authzv1.SubjectAccessReviewStatus{Allowed: true}, nil
}

func (f *fakeClient) Discovery(context.Context) (kube.Discovery, error) {
	f.calls = append(f.calls, "Discovery")
	return kube.Discovery{Issuer: "https://issuer.example"}, nil
}

func (f *fakeClient) PublishedKeys(context.Context) ([]kube.PublishedKey, error) {
	f.calls = append(f.calls, "PublishedKeys")
	return nil, nil
}

// Every combination of a server that answers or not, each kind of
// credential, and an identity check that passes or is refused: Run lists
// the same checks in the same order, each with a status, and once a
// precondition fails it skips the checks that need it, with the reason,
// and makes none of their calls.
func TestRunSkipsWhatCannotBeChecked(t *testing.T) {
	t.Parallel()
	want := []string{CheckAPI, CheckCA, CheckClock, CheckCredential, CheckIdentity, CheckTokenReviews, CheckNamespaces,
		CheckServiceAccounts, CheckPods, CheckReplicaSets, CheckJobs, CheckIssuer, CheckPEMKeys, CheckClusterKeys}
	creds := map[string]kube.Credential{"static": kube.StaticToken("not-a-jwt"), "login JWT": kube.LoginJWT{}, "unreadable pod token": kube.NewTokenFile("/nonexistent/token")}
	for _, down := range []bool{false, true} {
		for credName, cred := range creds {
			for _, whoErr := range []error{nil, &kube.APIError{Status: http.StatusUnauthorized, Err: errors.New("Unauthorized")}} {
				name := credName + map[bool]string{true: ", server down"}[down]
				if whoErr != nil {
					name += ", credential refused"
				}
				t.Run(name, func(t *testing.T) {
					c := &fakeClient{down: down, cred: cred, whoErr: whoErr}
					now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
					usage := Usage{WithSelector: []string{"sel"}, Hybrid: []string{"fast"}, WithPods: []string{"pods"}, BoundToWorkload: []string{"w"}}
					results := Run(context.Background(), Target{
						Client: c, Settings: Settings{ExpectedIssuer: "https://issuer.example"},
						HeldKeys: func() clusterkeys.KeysStatus { return clusterkeys.KeysStatus{} }, Now: func() time.Time { return now },
					}, usage)
					var names []string
					for _, r := range results {
						names = append(names, r.Name)
						if !slices.Contains([]string{Passed, Failed, Skipped, Warning}, r.Status) || r.Detail == "" {
							t.Errorf("%s: status %q, detail %q", r.Name, r.Status, r.Detail)
						}
					}
					if !slices.Equal(names, want) {
						t.Fatalf("checks %v, want %v", names, want)
					}
					_, self := cred.(kube.LoginJWT)
					_, noToken := cred.(*kube.TokenFile)
					var blocked string
					switch {
					case down:
						blocked = "the Kubernetes API cannot be used"
					case noToken:
						blocked = "the reviewer credential cannot be read"
					}
					for _, r := range results[4:9] { // identity and the permissions
						switch {
						case self:
							if r.Status != Skipped || r.Detail != selfReviewReason {
								t.Errorf("%s without a reviewer: %s: %s", r.Name, r.Status, r.Detail)
							}
						case blocked != "":
							if r.Status != Skipped || !strings.Contains(r.Detail, blocked) {
								t.Errorf("%s: %s: %s, want skipped because %s", r.Name, r.Status, r.Detail, blocked)
							}
						case whoErr != nil && r.Name != CheckIdentity:
							if r.Status != Skipped || !strings.Contains(r.Detail, "does not accept the reviewer credential") {
								t.Errorf("%s after a refused credential: %s: %s", r.Name, r.Status, r.Detail)
							}
						}
					}
					if (down || noToken) && len(c.calls) > 0 {
						t.Errorf("calls made although %s: %v", blocked, c.calls)
					}
					if whoErr != nil && !self && !down && !noToken && !slices.Equal(c.calls, []string{"WhoAmI"}) {
						t.Errorf("calls after the credential was refused: %v", c.calls)
					}
				})
			}
		}
	}
}
