package diagnose

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// CheckJWKSURL is listed only for a config that sets jwks_url: whether the
// key set there can be read, with the credential the plugin would use, and
// holds a usable key.
const CheckJWKSURL = "jwks_url"

// JWKSObserved is what the jwks_url check reads: the URL, what its fetch
// carried, what the document held (or why it could not be read or used),
// and the roles that verify with it.
type JWKSObserved struct {
	URL        string
	Credential string // what the fetch carried, in words
	Kids       []string
	Notes      []string // entries skipped, and why
	FetchErr   error    // the GET failed
	ParseErr   error    // the document holds no usable key
	LocalRoles []string // review_mode hybrid and local roles, at most ten
}

// JWKSURL: the jwks_url key set as the plugin reads it. A key set that
// cannot be read or holds no usable key fails: review_mode=local roles then
// refuse or fail every login, and hybrid roles review every token.
func JWKSURL(o JWKSObserved) Result {
	r := Result{Name: CheckJWKSURL, Data: map[string]any{
		"url": o.URL, "credential": o.Credential, "roles": o.LocalRoles,
	}}
	switch {
	case o.FetchErr != nil:
		r.Status = Failed
		r.Detail = fmt.Sprintf("the key set at jwks_url cannot be read (%s): %v", o.Credential, o.FetchErr)
		r.Fix = jwksFetchFix(o.FetchErr)
		return r
	case o.ParseErr != nil:
		r.Status = Failed
		r.Detail = fmt.Sprintf("jwks_url answers, but not with a usable key set: %v", o.ParseErr)
		if len(o.Notes) > 0 {
			r.Detail += " (" + strings.Join(o.Notes, "; ") + ")"
		}
		r.Fix = "point jwks_url at the cluster's JSON Web Key Set (on the API server: /openid/v1/jwks), which holds its RSA or ECDSA signing keys"
		return r
	}
	r.Data["kids"] = o.Kids
	r.Status = Passed
	r.Detail = fmt.Sprintf("jwks_url holds %d usable key(s) (kid %s), read with %s", len(o.Kids), strings.Join(o.Kids, ", "), o.Credential)
	if len(o.LocalRoles) == 0 {
		r.Detail += "; no review_mode hybrid or local role verifies with them yet"
	}
	return r
}

// jwksFetchFix is what to do about a jwks_url that cannot be read.
func jwksFetchFix(err error) string {
	var e *kube.APIError
	switch s := kube.Status(err); {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return "the address refuses the read: publish the key set without authentication there, or set jwks_url on the API server's " +
			"origin (kubernetes_host) so the reviewer credential, bound to system:service-account-issuer-discovery, is sent"
	case s == http.StatusNotFound:
		return "nothing is published at jwks_url: check the address (an API server publishes its key set at /openid/v1/jwks)"
	case errors.As(err, &e) && e.TLS:
		return "the server's certificate does not verify: on the API server's origin with kubernetes_ca_cert, elsewhere with the system roots or kubernetes_ca_cert"
	case errors.As(err, &e) && e.Redirect != nil:
		return "jwks_url answers with a redirect, which is not followed: set jwks_url to the address it redirects to"
	}
	return "the address did not answer: check jwks_url and the network between Vault and it"
}
