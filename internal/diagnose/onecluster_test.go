package diagnose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// An address as the one-cluster check sees it: what it answers, and the
// keys it publishes, as indexes into a shared list of keys with their IDs.
type addressKind struct {
	answers bool
	keys    []int    // indexes of the keys it publishes; none: its keys cannot be read
	kids    []string // their key IDs
	refuses int      // with no keys: the HTTP status it refuses the read with
}

// The invariant of the one-cluster check, over every layout of three
// addresses drawn from: one cluster's API servers before, during and after
// a key rotation (old key, both, new key), one that publishes the old key
// under another ID, another cluster's (a key of its own, once under an ID
// that collides with this cluster's), an address whose keys cannot be read
// (403), one that refuses the reader (401) and one that does not answer;
// read by the reviewer and by no one (no reviewer). An address is reported
// as another cluster's exactly when no chain of shared public keys links
// it to the first address whose keys were read; key IDs never link two
// keys. An address that refuses the reviewer (401) what another gave it is
// reported too; refused to no one, it says nothing. Such addresses fail
// the check, with a problem and a fix that name them and the reference; no
// other answering address gets a problem; an address whose keys are
// unknown is said so and otherwise not judged.
func TestAddressesAreOneCluster(t *testing.T) {
	t.Parallel()
	var pub []crypto.PublicKey
	for range 3 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub = append(pub, k.Public())
	}
	kinds := map[string]addressKind{
		"a-old":      {answers: true, keys: []int{0}, kids: []string{"old"}},
		"a-both":     {answers: true, keys: []int{0, 1}, kids: []string{"old", "new"}},
		"a-new":      {answers: true, keys: []int{1}, kids: []string{"new"}},
		"a-renamed":  {answers: true, keys: []int{0}, kids: []string{"renamed"}},
		"b":          {answers: true, keys: []int{2}, kids: []string{"b"}},
		"b-same-kid": {answers: true, keys: []int{2}, kids: []string{"old"}},
		"403":        {answers: true, refuses: http.StatusForbidden},
		"401":        {answers: true, refuses: http.StatusUnauthorized},
		"down":       {},
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range kinds {
			if !yield(n) {
				return
			}
		}
	})
	for _, x := range names {
		for _, y := range names {
			for _, z := range names {
				layout := []string{x, y, z}
				for _, asker := range []kube.Credential{kube.StaticToken("reviewer"), nil} {
					t.Run(fmt.Sprintf("%s/reviewer=%v", strings.Join(layout, ","), asker != nil), func(t *testing.T) {
						checkOneCluster(t, layout, kinds, pub, asker)
					})
				}
			}
		}
	}
}

func checkOneCluster(t *testing.T, layout []string, kinds map[string]addressKind, pub []crypto.PublicKey, asker kube.Credential) {
	states := make([]kube.AddressState, len(layout))
	probes := make([]kube.Probe, len(layout))
	keys := make([]AddressKeys, len(layout))
	for i, name := range layout {
		k := kinds[name]
		states[i] = kube.AddressState{URL: fmt.Sprintf("https://10.0.0.%d:6443", i+1)}
		switch {
		case !k.answers:
			probes[i] = kube.Probe{Err: &kube.APIError{Host: states[i].URL, Err: errors.New("connection refused")}}
			keys[i].Err = errors.New("the address did not answer")
			continue
		case len(k.keys) == 0:
			keys[i].Err = &kube.APIError{Status: k.refuses, Err: errors.New(http.StatusText(k.refuses))}
		}
		probes[i] = kube.Probe{Status: http.StatusOK, RoundTrip: time.Millisecond}
		for j, ki := range k.keys {
			keys[i].Keys = append(keys[i].Keys, kube.PublishedKey{KID: k.kids[j], Key: pub[ki]})
		}
	}
	wantForeign, ref := modelForeign(layout, kinds)
	r := Addresses(states, probes, keys, asker, "kubernetes_ca_cert", Route{})
	entries := r.Data["addresses"].([]map[string]any)
	answering := 0
	for i, name := range layout {
		e, k := entries[i], kinds[name]
		problem, _ := e["problem"].(string)
		fix, _ := e["fix"].(string)
		if k.answers {
			answering++
		}
		refusing := asker != nil && ref >= 0 && k.refuses == http.StatusUnauthorized
		switch {
		case wantForeign[i] || refusing:
			if !strings.Contains(problem, "another cluster") || !strings.Contains(problem, states[ref].URL) || !strings.Contains(fix, states[i].URL) {
				t.Errorf("address %d (%s) is another cluster's: problem %q, fix %q", i, name, problem, fix)
			}
			if refusing {
				wantForeign[i] = true // for the verdict below
			}
		case k.answers && problem != "":
			t.Errorf("address %d (%s) answers and is this cluster's or unknown, yet: %q", i, name, problem)
		}
		if _, unknown := e["keys_unknown"]; k.answers && unknown != (len(k.keys) == 0) {
			t.Errorf("address %d (%s): keys_unknown %v", i, name, e["keys_unknown"])
		}
		if ids, _ := e["key_ids"].([]string); k.answers && len(k.keys) > 0 && !slices.Equal(ids, k.kids) {
			t.Errorf("address %d (%s): key_ids %v, want %v", i, name, ids, k.kids)
		}
	}
	foreign := slices.Contains(wantForeign, true)
	want := map[bool]string{true: Failed, false: Passed}[foreign]
	switch {
	case answering == 0:
		want = Failed
	case !foreign && answering < len(layout):
		want = Warning
	}
	if r.Status != want {
		t.Fatalf("status %s, want %s: %s", r.Status, want, r.Detail)
	}
	if foreign && (!strings.Contains(r.Detail, "another cluster") || r.Fix == "") {
		t.Fatalf("detail %q, fix %q: want another cluster named", r.Detail, r.Fix)
	}
}

// modelForeign is the expected verdict, worked out apart from the code:
// the reference is the first address with keys; an address is linked to
// it when a chain of addresses sharing a public key joins them.
func modelForeign(layout []string, kinds map[string]addressKind) ([]bool, int) {
	n := len(layout)
	ref := -1
	shares := make([][]bool, n)
	for i := range n {
		shares[i] = make([]bool, n)
		for j := range n {
			for _, a := range kinds[layout[i]].keys {
				if kinds[layout[i]].answers && kinds[layout[j]].answers && slices.Contains(kinds[layout[j]].keys, a) {
					shares[i][j] = true
				}
			}
		}
		if ref < 0 && kinds[layout[i]].answers && len(kinds[layout[i]].keys) > 0 {
			ref = i
		}
	}
	for k := range n { // transitive closure
		for i := range n {
			for j := range n {
				shares[i][j] = shares[i][j] || (shares[i][k] && shares[k][j])
			}
		}
	}
	foreign := make([]bool, n)
	for i, name := range layout {
		k := kinds[name]
		foreign[i] = ref >= 0 && k.answers && len(k.keys) > 0 && !shares[ref][i]
	}
	return foreign, ref
}
