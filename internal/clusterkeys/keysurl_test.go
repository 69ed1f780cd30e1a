package clusterkeys

import (
	"crypto"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// With KeysURL the keys are read there and only there; the issuer still
// comes from the API server's discovery document.
func TestKeysURL(t *testing.T) {
	const url = "https://oidc.example/cluster/keys.json"
	key := pemKey(t, "apiserver-sa.pub").(crypto.PublicKey)
	api := newFakeFetcher()
	api.serve(url, jwksDoc(t, map[string]crypto.PublicKey{"k1": key}))
	api.serve(jwksPath, jwksDoc(t, map[string]crypto.PublicKey{"other": pemKey(t, "rsa-other.pub").(crypto.PublicKey)}))
	api.serve(discoveryPath, []byte(`{"issuer":"`+testkit.Issuer+`"}`))
	set := New(api, Options{KeysURL: url, Now: newFakeClock().Now})
	t.Cleanup(set.Close)
	if _, err := set.FreshKey(t.Context(), "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := set.FreshKey(t.Context(), "other"); err == nil {
		t.Fatal("a key of the API server's own key set was used although KeysURL is set")
	}
	if iss, err := set.Issuer(t.Context()); err != nil || iss != testkit.Issuer {
		t.Fatalf("issuer %q, %v", iss, err)
	}
	if n := api.count(jwksPath); n != 0 {
		t.Fatalf("the API server's key set was fetched %d times", n)
	}
	kids, _, err := KeySetKids(jwksDoc(t, map[string]crypto.PublicKey{"b": key, "a": key}))
	if err != nil || len(kids) != 2 || kids[0] != "a" {
		t.Fatalf("KeySetKids: %v %v", kids, err)
	}
}
