package kubeauth

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// FuzzClusterChoice: any claims, signed by either cluster's key under any
// kid, sent to a mount whose two clusters share an issuer (so the signing
// key decides; pem_keys for one, the published keys for the other), are
// refused or log in; never a panic or a fault, and a login lands in the
// cluster whose key signed the token.
func FuzzClusterChoice(f *testing.F) {
	c := newClusterEnv(f, testIssuer)
	c.writeConfig(map[string]any{"pem_keys": publicPEM(f, c.signer.Public())})
	c.writeEast(nil)
	c.writeRole(testRole, map[string]any{"bound_clusters": "*"})
	defaultKid, eastKid := testKeyID(f, c.signer.Public()), testKeyID(f, c.eastSigner.Public())
	good, _ := json.Marshal(tokenClaims(testNamespace, testSAName, testSAUID, "vault"))
	east, _ := json.Marshal(tokenClaims(testNamespace, testSAName, eastSAUID, "vault"))
	f.Add(good, false, defaultKid)
	f.Add(east, true, eastKid)
	f.Add(east, true, defaultKid)
	f.Add(good, false, "")
	f.Add([]byte(`{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:apps:web"}`), true, eastKid)
	f.Add([]byte(`{"iss":7}`), false, "x")
	f.Fuzz(func(t *testing.T, claimsJSON []byte, byEast bool, kid string) {
		c.t = t
		var claims map[string]any
		if json.Unmarshal(claimsJSON, &claims) != nil || claims == nil {
			return
		}
		signer, want := c.signer, defaultCluster
		if byEast {
			signer, want = c.eastSigner, "east"
		}
		resp, err := c.login(testRole, signJWTWithKid(t, signer, kid, claims))
		if err != nil {
			if !errors.Is(err, logical.ErrPermissionDenied) {
				t.Fatalf("want a refusal (403) or a login, got %v", err)
			}
			return
		}
		if resp.IsError() {
			return // a 400 naming the field
		}
		if got := resp.Auth.Metadata[metaCluster]; got != want {
			t.Fatalf("a token signed by %s's key logged in as cluster %q", want, got)
		}
	})
}

// FuzzStoredCluster: a cluster entry as anything may have stored it is
// used or refused cleanly, by reads, logins and checks of every cluster;
// never a panic.
func FuzzStoredCluster(f *testing.F) {
	c := newClusterEnv(f, eastIssuer)
	c.writeEast(map[string]any{"issuer": eastIssuer})
	c.writeRole(testRole, map[string]any{"bound_clusters": "*"})
	stored, _ := json.Marshal(c.rawEntry("cluster/east"))
	f.Add(stored)
	f.Add([]byte(`{"host":"","ca_cert":"junk","pem_keys":"not a list"}`))
	f.Add([]byte(`{"issuer":7}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, value []byte) {
		c.t = t
		if err := c.storage.Put(t.Context(), &logical.StorageEntry{Key: "cluster/east", Value: value}); err != nil {
			t.Fatal(err)
		}
		c.b.resetState("east")
		_, _ = c.do(logical.ReadOperation, "cluster/east", nil)
		// Logins only while the stored host is one of the fakes: a fuzzed
		// host must never make the test talk to another address.
		cfg, err := loadClusterConfig(t.Context(), c.storage, "east")
		if err != nil || cfg == nil || (cfg.Host != c.east.srv.URL && cfg.Host != c.kube.srv.URL) {
			_, _ = c.b.clusterState(t.Context(), c.storage, "east")
			return
		}
		_, _ = c.login(testRole, c.defaultToken())
		_, _ = c.login(testRole, c.eastToken(eastIssuer))
	})
}
