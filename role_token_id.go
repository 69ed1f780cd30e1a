package kubeauth

import (
	"github.com/hashicorp/vault/sdk/framework"
)

// metaTokenID is the token metadata key of the service-account token's
// credential ID (its jti), which Kubernetes' audit log records for every
// request made with the token: with it, a Vault audit entry and a
// Kubernetes one can be joined.
const metaTokenID = "service_account_token_id"

// maxTokenIDLen bounds the jti copied into metadata; the API server's are
// UUIDs, and anything far longer is no credential ID it minted.
const maxTokenIDLen = 128

// tokenIDField adds include_token_id to the role's schema.
func tokenIDField(fields map[string]*framework.FieldSchema) {
	fields["include_token_id"] = &framework.FieldSchema{
		Type: framework.TypeBool,
		Description: "Add the service-account token's credential ID (its jti claim, which Kubernetes' audit log records as " +
			"authentication.kubernetes.io/credential-id) to the Vault token's metadata as " + metaTokenID + ". Off by default.",
	}
}

// applyTokenID applies include_token_id as a write sends it.
func applyTokenID(r *roleEntry, d *framework.FieldData) {
	if v, ok := d.GetOk("include_token_id"); ok {
		r.IncludeTokenID = v.(bool)
	}
}

// tokenIDReadData adds include_token_id to a read when it is on; a role
// without it reads exactly as Vault's method reads it.
func (r *roleEntry) tokenIDReadData(data map[string]any) {
	if r.IncludeTokenID {
		data["include_token_id"] = true
	}
}

// addTokenID puts the token's credential ID in metadata when the role asks
// for it and the token has one that could be an API server's (a legacy
// Secret-based token has none).
func addTokenID(metadata map[string]string, r *roleEntry, jti string) {
	if r.IncludeTokenID && plausibleTokenID(jti) {
		metadata[metaTokenID] = jti
	}
}

// plausibleTokenID: a non-empty, bounded string of printable ASCII without
// spaces, as the API server's UUIDs are; anything else is not copied into
// metadata, which audit logs and policies read.
func plausibleTokenID(jti string) bool {
	if jti == "" || len(jti) > maxTokenIDLen {
		return false
	}
	for i := 0; i < len(jti); i++ {
		if c := jti[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
