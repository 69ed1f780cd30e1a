package diagnose

import (
	"crypto/x509"
	"net/http"
	"slices"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// kubernetes_hosts must be addresses of one cluster: the credential, the CA
// and every login's review go to whichever is in turn. An address of
// another cluster would review that cluster's tokens as this one's, where
// the reviewer credential works there too (no reviewer: each login's JWT
// reviews itself; a client certificate both clusters trust). The addresses
// of one cluster publish its service-account keys; another cluster's
// publish none of them.

// AddressKeys is what one address published of the cluster's
// service-account keys, or why they could not be read.
type AddressKeys struct {
	Keys []kube.PublishedKey
	Err  error
}

// read says whether the address's keys are known.
func (k AddressKeys) read() bool { return k.Err == nil && len(k.Keys) > 0 }

// foreignAddresses is the addresses whose published keys share none with
// the reference's: the first address whose keys were read, and every
// address that shares a key with it or with another that does. Keys are
// compared by their public key, and by key ID only where that cannot be
// encoded. ref is -1 when no address's keys were read; an address whose
// keys were not read is never foreign.
func foreignAddresses(keys []AddressKeys) (ref int, foreign []int) {
	ref = slices.IndexFunc(keys, AddressKeys.read)
	if ref < 0 {
		return -1, nil
	}
	sets := make([]map[string]bool, len(keys))
	for i, k := range keys {
		if k.read() {
			sets[i] = keyIdentities(k.Keys)
		}
	}
	// Grow the reference's group until no read address joins it: an HA
	// control plane in the middle of a key rotation may have addresses
	// that share a key only through a third.
	group := map[int]bool{ref: true}
	for grew := true; grew; {
		grew = false
		for i, set := range sets {
			if set == nil || group[i] {
				continue
			}
			for j := range group {
				if sharesAny(set, sets[j]) {
					group[i], grew = true, true
					break
				}
			}
		}
	}
	for i, set := range sets {
		if set != nil && !group[i] {
			foreign = append(foreign, i)
		}
	}
	return ref, foreign
}

// refusingAddresses is the addresses that refused the reviewer credential
// (HTTP 401) the keys that another address gave it. An API server of the
// cluster accepts the credential everywhere; where it does not, no login's
// review passes either. Without a reviewer (asker nil) the reads are
// anonymous, and a refusal says nothing.
func refusingAddresses(keys []AddressKeys, asker kube.Credential) []int {
	if asker == nil || !slices.ContainsFunc(keys, AddressKeys.read) {
		return nil
	}
	var refusing []int
	for i, k := range keys {
		if kube.Status(k.Err) == http.StatusUnauthorized {
			refusing = append(refusing, i)
		}
	}
	return refusing
}

// keyIdentities names each key by its encoded public key, or its key ID
// when it has no encoding.
func keyIdentities(keys []kube.PublishedKey) map[string]bool {
	ids := make(map[string]bool, len(keys))
	for _, k := range keys {
		if der, err := x509.MarshalPKIXPublicKey(k.Key); err == nil {
			ids["key:"+string(der)] = true
		} else {
			ids["kid:"+k.KID] = true
		}
	}
	return ids
}

func sharesAny(a, b map[string]bool) bool {
	for id := range a {
		if b[id] {
			return true
		}
	}
	return false
}

// keyIDs are the key IDs an address published, for the check's data.
func keyIDs(keys []kube.PublishedKey) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.KID
	}
	return ids
}
