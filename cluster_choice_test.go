package kubeauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/diagnose"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// choiceCluster is one cluster of a choiceEnv: a fake API server with its
// own signing key, service-account UID and announced issuer.
type choiceCluster struct {
	name   string
	kube   *fakeKube
	signer crypto.Signer
	uid    string
	issuer string
}

// choiceEnv is a mount with config (the env's fake) and named clusters
// east and west, each its own fake API server; no cluster has an issuer
// field, so each one's issuer is what its API server announces.
type choiceEnv struct {
	*testEnv
	clusters []*choiceCluster
}

var westSigner = sync.OnceValue(func() crypto.Signer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// newChoiceEnv builds the env; shared makes every API server announce the
// same issuer, so that only signing keys tell the clusters apart.
func newChoiceEnv(t testing.TB, shared bool) *choiceEnv {
	t.Helper()
	e := newTestEnv(t)
	e.writeConfig(nil)
	c := &choiceEnv{testEnv: e}
	iss := func(name string) string {
		if shared {
			return testkit.Issuer
		}
		return "https://" + name + ".example"
	}
	e.kube.setIssuer(iss(defaultCluster))
	c.clusters = append(c.clusters, &choiceCluster{name: defaultCluster, kube: e.kube, signer: e.signer, uid: testkit.SAUID, issuer: iss(defaultCluster)})
	for n, signer := range map[string]crypto.Signer{"east": testkit.PrivateKey(t, "other.key"), "west": westSigner()} {
		kube := newFakeKube(t, signer.Public())
		uid := fmt.Sprintf("%08x-0000-4000-8000-%012d", len(c.clusters), len(c.clusters)) // a UUID, as Kubernetes gives
		kube.addServiceAccount(testkit.Namespace, testkit.SAName, uid, nil)
		kube.setReviewerToken(testReviewer)
		kube.setIssuer(iss(n))
		e.mustDo(logical.UpdateOperation, "cluster/"+n, map[string]any{
			"kubernetes_host": kube.srv.URL, "kubernetes_ca_cert": kube.caPEM, "token_reviewer_jwt": testReviewer,
		})
		c.clusters = append(c.clusters, &choiceCluster{name: n, kube: kube, signer: signer, uid: uid, issuer: iss(n)})
	}
	// The roles check no audience: legacy tokens have none but the API
	// server's.
	e.writeRole("any", map[string]any{"bound_clusters": "*", "audience": ""})
	e.writeRole("home", map[string]any{"audience": ""})
	return c
}

// breakCluster stores a config for the cluster that cannot be used.
func (c *choiceEnv) breakCluster(name string) {
	c.t.Helper()
	err := c.storage.Put(context.Background(), &logical.StorageEntry{
		Key: clusterStorageKey(name), Value: []byte(`{"kubernetes_host":"https://127.0.0.1:1","pem_keys":"not a list"}`),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.b.resetState(name)
}

// token is a token of the cluster: bound (its issuer) or legacy
// (kubernetes/serviceaccount), signed with its key under the kid its API
// server publishes.
func (cl *choiceCluster) token(t testing.TB, legacy bool) string {
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, cl.uid, fakeAPIAudience)
	claims["iss"] = cl.issuer
	if legacy {
		claims = testkit.LegacyClaims(testkit.Namespace, testkit.SAName, cl.uid, "web-token")
		claims["aud"] = []string{fakeAPIAudience}
	}
	return testkit.SignJWTWithKid(t, cl.signer, testKeyID(t, cl.signer.Public()), claims)
}

func (c *choiceEnv) reviews() []int64 {
	out := make([]int64, len(c.clusters))
	for i, cl := range c.clusters {
		out[i] = cl.kube.reviews.Load()
	}
	return out
}

// A token is sent to a TokenReview only by the cluster it was matched to:
// for every combination of clusters whose stored config cannot be used,
// distinct or shared issuers, bound or legacy tokens, and roles that accept
// every cluster or the default one alone. A token of a usable cluster the
// role accepts logs in, through its own cluster.
func TestTokenReviewedOnlyByItsCluster(t *testing.T) {
	for _, shared := range []bool{false, true} {
		for broken := 0; broken < 8; broken++ {
			name := fmt.Sprintf("shared=%v/unusable=%03b", shared, broken)
			t.Run(name, func(t *testing.T) {
				c := newChoiceEnv(t, shared)
				for i, cl := range c.clusters {
					if broken&(1<<i) != 0 {
						c.breakCluster(cl.name)
					}
				}
				for _, role := range []string{"any", "home"} {
					for from, cl := range c.clusters {
						for _, legacy := range []bool{false, true} {
							before := c.reviews()
							resp, err := c.login(role, cl.token(t, legacy))
							after := c.reviews()
							for i := range after {
								if i != from && after[i] != before[i] {
									t.Fatalf("role %s, %s token of %s (legacy %v): reviewed by cluster %s\n%s",
										role, cl.name, cl.name, legacy, c.clusters[i].name, c.logs.String())
								}
							}
							usable := broken&(1<<from) == 0
							accepted := role == "any" || cl.name == defaultCluster
							ok := err == nil && resp != nil && resp.Auth != nil
							if ok != (usable && accepted) {
								t.Fatalf("role %s, token of %s (legacy %v, its config usable %v): logged in %v; err=%v resp=%#v\n%s",
									role, cl.name, legacy, usable, ok, err, resp, c.logs.String())
							}
							if ok && resp.Auth.Metadata[metaSAUID] != cl.uid {
								t.Fatalf("token of %s logged in as %v", cl.name, resp.Auth.Metadata)
							}
						}
					}
				}
			})
		}
	}
}

// The states a second cluster can be in, as the logins of other clusters'
// roles must not notice them.
var clusterStates = []string{"healthy", "refused", "blackholed", "slow", "401", "500", "unusable"}

// putInState puts cluster east of the env in the state; the blackhole, if
// that is the state, holds every request until the test ends.
func (c *choiceEnv) putInState(t *testing.T, state string) *blackhole {
	east := c.clusters[1].kube
	switch state {
	case "refused":
		east.srv.Close()
	case "blackholed":
		return holdRequests(t, east)
	case "slow":
		// Answers every request, late.
		east.setIntercept(func(http.ResponseWriter, *http.Request) bool {
			time.Sleep(50 * time.Millisecond)
			return false
		})
	case "401":
		east.setReviewerToken("someone-else")
	case "500":
		east.answerStatus(everyPath, http.StatusInternalServerError, "etcd is gone")
	case "unusable":
		c.breakCluster("east")
	}
	return nil
}

// For every state of a second cluster, the logins of a role bound to the
// default cluster, and those of a role bound to every cluster with a token
// whose issuer is known elsewhere, return while a blackholed cluster still
// holds their requests: the wait for clusters is made unbounded here, so a
// login that waited for it would never return.
func TestClusterStateDoesNotHoldOthersLogins(t *testing.T) {
	for _, state := range clusterStates {
		for _, withIssuer := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/issuer_field=%v", state, withIssuer), func(t *testing.T) {
				c := newChoiceEnv(t, false)
				c.b.clusterWait = time.Hour
				// The API servers' own timeout too: only the test ends a wait.
				c.b.requestTimeout = time.Hour
				if withIssuer {
					c.writeConfig(map[string]any{"issuer": c.clusters[0].issuer})
				} else {
					c.writeConfig(nil)
				}
				for _, cl := range c.clusters[1:] {
					c.mustDo(logical.UpdateOperation, "cluster/"+cl.name, map[string]any{
						"kubernetes_host": cl.kube.srv.URL, "kubernetes_ca_cert": cl.kube.caPEM, "token_reviewer_jwt": testReviewer,
					})
				}
				hole := c.putInState(t, state)
				done := make(chan error, 1)
				go func() {
					for i := 0; i < 3; i++ {
						for _, role := range []string{"home", "any"} {
							resp, err := c.login(role, c.clusters[0].token(t, false))
							if err == nil && (resp == nil || resp.Auth == nil) {
								err = fmt.Errorf("no auth: %#v", resp)
							}
							if err != nil {
								done <- fmt.Errorf("role %s: %w", role, err)
								return
							}
						}
					}
					done <- nil
				}()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("%v\n%s", err, c.logs.String())
					}
				case <-time.After(time.Minute): // a hang detector, not a latency bound
					t.Fatalf("the default cluster's logins are held by cluster east (%s)", state)
				}
				// The logins do not wait for the blackholed cluster, so on a
				// loaded machine they may finish before the plugin's request
				// to it arrives; it must arrive, or the test proves nothing.
				if hole != nil && state == "blackholed" && !testkit.Eventually(30*time.Second, func() bool { return hole.held.Load() > 0 }) {
					t.Fatal("no request reached the blackholed cluster: the test proves nothing")
				}
				if got := c.clusters[1].kube.reviews.Load(); got != 0 {
					t.Errorf("cluster east reviewed %d tokens", got)
				}
			})
		}
	}
}

// A blackholed cluster fails its own logins once the wait is over, and a
// login after that does not wait for it again: the fetch it gave up on is
// not waited for, nor a retry before the backoff has passed.
func TestBlackholedClusterFailsItsOwnLoginsOnce(t *testing.T) {
	c := newChoiceEnv(t, false)
	c.b.requestTimeout = time.Hour
	c.writeConfig(nil)
	for _, cl := range c.clusters[1:] {
		c.mustDo(logical.UpdateOperation, "cluster/"+cl.name, map[string]any{
			"kubernetes_host": cl.kube.srv.URL, "kubernetes_ca_cert": cl.kube.caPEM, "token_reviewer_jwt": testReviewer,
		})
	}
	hole := holdRequests(t, c.clusters[1].kube)
	// The other clusters' issuers and keys are read first, with a wait
	// that never ends: those logins wait for nothing from east.
	c.b.clusterWait = time.Hour
	c.mustLogin("any", c.clusters[0].token(t, false))
	c.mustLogin("any", c.clusters[2].token(t, false))
	c.b.clusterWait = time.Millisecond
	resp, err := c.login("any", c.clusters[1].token(t, false))
	if err == nil || errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("the blackholed cluster's token: err=%v resp=%#v; want a fault", err, resp)
	}
	if !strings.Contains(c.logs.String(), "did not answer") {
		t.Errorf("the log does not say the cluster did not answer:\n%s", c.logs.String())
	}
	if path := <-hole.arrived; path != "/.well-known/openid-configuration" {
		t.Fatalf("the blackholed cluster was asked for %s", path)
	}
	// From now on a login that waited would never return.
	c.b.clusterWait = time.Hour
	held := hole.held.Load()
	for i := 0; i < 3; i++ {
		resp, err = c.login("any", c.clusters[1].token(t, false))
		if err == nil || errors.Is(err, logical.ErrPermissionDenied) {
			t.Fatalf("again: err=%v resp=%#v; want a fault", err, resp)
		}
		c.mustLogin("any", c.clusters[0].token(t, false))
	}
	if hole.held.Load() != held {
		t.Errorf("%d more requests to the blackholed cluster before its backoff passed", hole.held.Load()-held)
	}
}

// A mount whose config has neither issuer nor reviewer credential cannot
// know the default cluster's issuer: once it has a named cluster, the
// default cluster's logins fail. The cluster write and a config write that
// leads there warn, saying to set issuer on config, and config/check's
// cluster_choice fails saying the same; setting it ends all three.
func TestClusterChoiceWarnsWhenTheDefaultIssuerCannotBeKnown(t *testing.T) {
	const want = "set issuer on config to the iss of its tokens"
	warned := func(resp *logical.Response) bool {
		return resp != nil && strings.Contains(strings.Join(resp.Warnings, "\n"), want)
	}
	c := newClusterEnv(t, eastIssuer)
	c.kube.setReviewerToken("") // each login JWT reviews itself
	selfReview := func() map[string]any {
		return withFields(c.configData(), map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true})
	}
	resp := c.mustDo(logical.UpdateOperation, "config", selfReview())
	if warned(resp) {
		t.Fatalf("config alone warns: %v", resp.Warnings)
	}
	c.mustLogin(testRole, c.defaultToken())

	resp = c.mustDo(logical.UpdateOperation, "cluster/east", c.eastConfig(nil))
	if !warned(resp) {
		t.Fatalf("the cluster write does not warn: %#v", resp)
	}
	if resp, err := c.login(testRole, c.defaultToken()); err == nil || errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("the default cluster's token: err=%v resp=%#v; want the fault the warning announced", err, resp)
	}
	got := c.configCheck(t).get(t, diagnose.CheckClusterChoice)
	if got.Status != diagnose.Failed || !strings.Contains(got.Fix, "set issuer on config") {
		t.Errorf("config/check cluster_choice: %+v", got)
	}

	resp = c.mustDo(logical.UpdateOperation, "config", withFields(selfReview(), map[string]any{"issuer": testkit.Issuer}))
	if warned(resp) {
		t.Fatalf("a config with issuer warns: %v", resp.Warnings)
	}
	c.mustLogin(testRole, c.defaultToken())
	if got := c.configCheck(t).get(t, diagnose.CheckClusterChoice); got.Status != diagnose.Passed {
		t.Errorf("config/check cluster_choice with issuer: %+v", got)
	}
	if resp := c.mustDo(logical.UpdateOperation, "cluster/east", c.eastConfig(nil)); warned(resp) {
		t.Fatalf("the cluster write warns once config has issuer: %v", resp.Warnings)
	}

	// Removing the issuer again warns on the config write itself.
	resp = c.mustDo(logical.UpdateOperation, "config", selfReview())
	if !warned(resp) {
		t.Fatalf("a config write that removes the issuer does not warn: %#v", resp)
	}
}
