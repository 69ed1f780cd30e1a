package kubeauth

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// FuzzClusterChoice: any claims, signed by either cluster's key under any
// kid, sent to a mount whose two clusters share an issuer (so the signing
// key decides; pem_keys for one, the published keys for the other), are
// refused or log in; never a panic or a fault, and a login lands in the
// cluster whose key signed the token.
func FuzzClusterChoice(f *testing.F) {
	c := newClusterEnv(f, testkit.Issuer)
	c.writeConfig(map[string]any{"pem_keys": publicPEM(f, c.signer.Public())})
	c.writeEast(nil)
	c.writeRole(testRole, map[string]any{"bound_clusters": "*"})
	defaultKid, eastKid := testKeyID(f, c.signer.Public()), testKeyID(f, c.eastSigner.Public())
	good, _ := json.Marshal(testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault"))
	east, _ := json.Marshal(testkit.Claims(testkit.Namespace, testkit.SAName, eastSAUID, "vault"))
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
		resp, err := c.login(testRole, testkit.SignJWTWithKid(t, signer, kid, claims))
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
			_, _ = c.b.liveCluster(t.Context(), c.storage, "east")
			return
		}
		_, _ = c.login(testRole, c.defaultToken())
		_, _ = c.login(testRole, c.eastToken(eastIssuer))
	})
}

// FuzzClusterChoiceRouting: a token signed by one of three clusters' keys,
// with any issuer (its cluster's, another's, the legacy one, anything) and
// any kid, sent with a role that accepts every cluster or the default one
// alone, while any of the clusters' stored configs cannot be used. A
// TokenReview reaches only a cluster the token was matched to: the one
// whose key signed it, or the one whose issuer it carries when that issuer
// is known to be no other cluster's (never the legacy issuer, and not while
// a cluster's issuer cannot be read); a login lands in the signer's
// cluster only.
func FuzzClusterChoiceRouting(f *testing.F) {
	c := newChoiceEnv(f, false)
	good := map[string][]byte{}
	for _, cl := range c.clusters {
		entry, err := c.storage.Get(f.Context(), clusterStorageKey(cl.name))
		if err != nil || entry == nil {
			f.Fatal(err)
		}
		good[cl.name] = entry.Value
	}
	f.Add(uint8(0), uint8(0), uint8(0), false, "")
	f.Add(uint8(1), uint8(1), uint8(0b001), true, "")
	f.Add(uint8(2), uint8(3), uint8(0b011), false, "")
	f.Add(uint8(1), uint8(2), uint8(0b100), true, "x")
	f.Fuzz(func(t *testing.T, signer, issuer, unusable uint8, anyRole bool, kid string) {
		c.t = t
		for i, cl := range c.clusters {
			value := good[cl.name]
			if unusable&(1<<i) != 0 {
				value = []byte(`{"kubernetes_host":"https://127.0.0.1:1","pem_keys":"not a list"}`)
			}
			if err := c.storage.Put(t.Context(), &logical.StorageEntry{Key: clusterStorageKey(cl.name), Value: value}); err != nil {
				t.Fatal(err)
			}
			c.b.resetState(cl.name)
		}
		from := c.clusters[int(signer)%len(c.clusters)]
		claims := testkit.Claims(testkit.Namespace, testkit.SAName, from.uid, fakeAPIAudience)
		switch n := int(issuer) % (len(c.clusters) + 2); {
		case n < len(c.clusters):
			claims["iss"] = c.clusters[n].issuer
		case n == len(c.clusters):
			claims["iss"] = defaultIssuer
		default:
			claims["iss"] = "https://elsewhere.example"
		}
		if kid == "" {
			kid = testKeyID(t, from.signer.Public())
		}
		role := "home"
		if anyRole {
			role = "any"
		}
		before := c.reviews()
		resp, err := c.login(role, testkit.SignJWTWithKid(t, from.signer, kid, claims))
		after := c.reviews()
		for i, cl := range c.clusters {
			byIssuer := claims["iss"] == cl.issuer && unusable&0b111 == 0
			if cl != from && !byIssuer && after[i] != before[i] {
				t.Fatalf("a token signed by %s's key (iss %v) was reviewed by %s", from.name, claims["iss"], cl.name)
			}
		}
		if err == nil && resp != nil && resp.Auth != nil && resp.Auth.Metadata[metaSAUID] != from.uid {
			t.Fatalf("a token signed by %s's key logged in as %v", from.name, resp.Auth.Metadata)
		}
	})
}
