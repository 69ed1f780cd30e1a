package diagnose

import (
	"crypto"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/clusterkeys"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// Issuer: the issuer the cluster announces against the issuer the
// config requires (or would require, with validation turned on).
func Issuer(cfg Settings, d kube.Discovery) Result {
	announced := d.Issuer
	r := Result{Name: CheckIssuer, Data: map[string]any{
		"announced":              announced,
		"configured":             cfg.Issuer,
		"disable_iss_validation": cfg.DisableISSValidation,
	}}
	setIt := "write the config with issuer=" + announced
	if cfg.DisableISSValidation {
		switch cfg.Issuer {
		case "":
			r.Status = Skipped
			r.Detail = "issuer validation is off (disable_iss_validation=true), so the TokenReview alone vouches for the issuer; the cluster announces " + announced
		case announced:
			r.Status = Skipped
			r.Detail = "issuer " + announced + " is the cluster's, but not enforced while disable_iss_validation=true"
		default:
			r.Status = Warning
			r.Detail = fmt.Sprintf("issuer is %q but the cluster announces %q: turning on issuer validation would refuse every projected token (issuer_mismatch)", cfg.Issuer, announced)
			r.Fix = setIt
		}
		return r
	}
	expected := cfg.ExpectedIssuer
	r.Data["expected"] = expected
	switch {
	case expected == announced:
		r.Status = Passed
		r.Detail = "tokens must carry iss " + announced + ", the issuer the cluster announces"
	case cfg.Issuer == "":
		r.Status = Warning
		r.Detail = fmt.Sprintf("with disable_iss_validation=false and no issuer, tokens must carry iss %q, which only legacy Secret-based tokens do; "+
			"projected tokens (iss %q) are refused (issuer_mismatch)", expected, announced)
		r.Fix = setIt
	default:
		r.Status = Failed
		r.Detail = fmt.Sprintf("issuer is %q but the cluster announces %q: projected tokens are refused (issuer_mismatch)", expected, announced)
		r.Fix = setIt
	}
	return r
}

// PEMKeys: pem_keys against the keys the cluster publishes. A cluster
// key missing from pem_keys refuses the tokens it signs; a pem_keys entry
// the cluster does not publish is one it no longer uses.
func PEMKeys(configured []crypto.PublicKey, published []kube.PublishedKey) Result {
	r := Result{Name: CheckPEMKeys}
	missing, kids := []string{}, []string{}
	for _, pk := range published {
		kids = append(kids, pk.KID)
		if !containsKey(configured, pk.Key) {
			missing = append(missing, pk.KID)
		}
	}
	unmatched := []int{}
	for i, k := range configured {
		if !slices.ContainsFunc(published, func(pk kube.PublishedKey) bool { return sameKey(pk.Key, k) }) {
			unmatched = append(unmatched, i)
		}
	}
	r.Data = map[string]any{
		"published_kids":     kids,
		"missing_kids":       missing,
		"unmatched_pem_keys": unmatched,
	}
	switch {
	case len(missing) > 0:
		r.Status = Failed
		r.Detail = fmt.Sprintf("the cluster publishes %d key(s) that pem_keys lacks (kid %s): tokens signed with them are refused (signature_invalid)",
			len(missing), strings.Join(missing, ", "))
		r.Fix = "write pem_keys with the cluster's keys (kubectl get --raw " + kube.JWKSPath + " lists them), or unset pem_keys"
	case len(unmatched) > 0:
		r.Status = Warning
		r.Detail = fmt.Sprintf("pem_keys entries %v are not among the keys the cluster publishes: they verify only tokens the cluster no longer signs", unmatched)
		r.Fix = "remove those entries from pem_keys"
	default:
		r.Status = Passed
		r.Detail = fmt.Sprintf("pem_keys holds exactly the %d key(s) the cluster publishes (kid %s)", len(kids), strings.Join(kids, ", "))
	}
	return r
}

// sameKey compares public keys by value; RSA and ECDSA keys (the only
// kinds pem_keys holds) know how.
func sameKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func containsKey(keys []crypto.PublicKey, k crypto.PublicKey) bool {
	for _, c := range keys {
		if sameKey(c, k) {
			return true
		}
	}
	return false
}

// KeysObserved is what the cluster_keys check reads: the config, what was
// read of the cluster's discovery document and key set (and why not), who
// asked, and the plugin's own copy of the keys.
type KeysObserved struct {
	HybridRoles  []string // the review_mode=hybrid roles to name, at most ten
	LocalRoles   []string // the review_mode=local roles to name, at most ten
	Settings     Settings
	SelfReview   bool // there is no reviewer credential
	Discovery    kube.Discovery
	DiscoveryErr error
	Keys         []kube.PublishedKey
	KeysErr      error
	Reviewer     reviewerAccount
	Held         clusterkeys.KeysStatus // the zero value while no hybrid login has loaded the keys
}

// ClusterKeys: hybrid roles verify young tokens locally with the
// issuer the cluster announces (when the config sets none) and the keys it
// publishes (when pem_keys is not set), fetched with the reviewer
// credential. Without them, or without a credential to fetch them with,
// or while the plugin's copy of the keys is stale, those roles review
// every token as cached does: logins work, hybrid saves nothing.
func ClusterKeys(o KeysObserved) Result {
	r := Result{Name: CheckClusterKeys, Data: o.rolesData()}
	roles := o.label()
	needIssuer, needKeys := o.Settings.Issuer == "", !o.Settings.PEMKeys
	disc, keys, who := o.Discovery, o.Keys, o.Reviewer
	if o.SelfReview {
		r.Status = Warning
		r.Detail = fmt.Sprintf("%s cannot fetch the cluster's keys without a reviewer credential, so %s", roles, o.fallback())
		r.Fix = "set token_reviewer_jwt, or set both pem_keys and issuer in the config"
		return r
	}
	if needKeys {
		describeHeldKeys(r.Data, o.Held)
	}
	grantFix := fmt.Sprintf("bind the reviewer to ClusterRole system:service-account-issuer-discovery: kubectl create clusterrolebinding %s "+
		"--clusterrole=system:service-account-issuer-discovery %s", who.bindingName("issuer-discovery"), who.subjectFlag())
	var err error
	var what string
	switch {
	case needIssuer && o.DiscoveryErr != nil:
		err, what = o.DiscoveryErr, "its OIDC discovery document"
	case needKeys && o.KeysErr != nil:
		err, what = o.KeysErr, "its service-account key set"
	}
	if err != nil {
		r.Status = Warning
		r.Detail = fmt.Sprintf("%s %s with the cluster's issuer and keys, but %s cannot be read: %v; %s",
			roles, o.verifies(), what, err, o.fallback())
		switch kube.Status(err) {
		case http.StatusUnauthorized, http.StatusForbidden:
			r.Fix = grantFix
		case http.StatusNotFound:
			r.Fix = "the API server does not publish them: set issuer and pem_keys in the config, or use review_mode=cached on those roles"
		default:
			r.Fix = "see kubernetes_api: the API server did not answer"
		}
		return r
	}
	var uses []string
	if needIssuer {
		r.Data["issuer"] = disc.Issuer
		uses = append(uses, "the issuer the cluster announces ("+disc.Issuer+")")
	} else {
		uses = append(uses, "the configured issuer")
	}
	if needKeys {
		kids := make([]string, 0, len(keys))
		for _, k := range keys {
			kids = append(kids, k.KID)
		}
		r.Data["kids"] = kids
		uses = append(uses, fmt.Sprintf("the %d key(s) it publishes (kid %s)", len(keys), strings.Join(kids, ", ")))
	} else {
		uses = append(uses, "pem_keys")
	}
	if ks := o.Held; needKeys && ks.Loaded && !ks.Fresh {
		return heldKeysStale(r, ks, o, uses)
	}
	r.Status = Passed
	r.Detail = fmt.Sprintf("%s %s locally with %s", roles, o.verifies(), strings.Join(uses, " and "))
	return r
}

// rolesData names the roles in the check's data; local_roles only when
// there are some, so the answer for hybrid roles alone is as before.
func (o KeysObserved) rolesData() map[string]any {
	data := map[string]any{"hybrid_roles": o.HybridRoles}
	if len(o.LocalRoles) > 0 {
		data["local_roles"] = o.LocalRoles
	}
	return data
}

// label names the roles that verify with the cluster's keys, by mode.
func (o KeysObserved) label() string {
	var parts []string
	if len(o.HybridRoles) > 0 {
		parts = append(parts, "review_mode=hybrid roles ("+strings.Join(o.HybridRoles, ", ")+")")
	}
	if len(o.LocalRoles) > 0 {
		parts = append(parts, "review_mode=local roles ("+strings.Join(o.LocalRoles, ", ")+")")
	}
	return strings.Join(parts, " and ")
}

// verifies is what those roles do with the keys.
func (o KeysObserved) verifies() string {
	switch {
	case len(o.LocalRoles) == 0:
		return "verify young tokens"
	case len(o.HybridRoles) == 0:
		return "verify every token"
	}
	return "verify tokens"
}

// fallback is what those roles do without usable keys: hybrid ones
// review, local ones never do.
func (o KeysObserved) fallback() string {
	switch {
	case len(o.LocalRoles) == 0:
		return "they review every token as cached does"
	case len(o.HybridRoles) == 0:
		return "they refuse or fail every login (local mode never falls back to a TokenReview)"
	}
	return "the hybrid roles review every token as cached does, and the local roles refuse or fail every login"
}

// heldKeysStale is cluster_keys while the plugin's copy of the keys is
// stale: what hybrid roles would verify with (uses), and why they do not.
func heldKeysStale(r Result, ks clusterkeys.KeysStatus, o KeysObserved, uses []string) Result {
	r.Status = Warning
	why := fmt.Sprintf("is %s old, over %s, and refreshing it failed: %v", ks.Age.Round(time.Second), ks.MaxAge, ks.LastErr)
	r.Fix = "nothing if this check's own read (above) keeps succeeding: the next hybrid login refreshes the keys with the same credential; " +
		"else see the log line \"refreshing the cluster's signing keys failed\""
	if ks.Denied {
		why = fmt.Sprintf("had a refresh refused the credential since it was fetched (latest error: %v)", ks.LastErr)
	}
	r.Detail = fmt.Sprintf("%s %s locally with %s, but the plugin's copy of the keys %s: until a refresh succeeds %s",
		o.label(), o.verifies(), strings.Join(uses, " and "), why, o.fallback())
	return r
}

// describeHeldKeys adds to data how old the plugin's copy of the cluster's
// keys is, as kubeauth_cluster_keys_age_seconds shows it (held is the zero
// value while no hybrid login has loaded them).
func describeHeldKeys(data map[string]any, ks clusterkeys.KeysStatus) {
	data["key_set_loaded"] = ks.Loaded
	data["key_set_max_age_seconds"] = int64(clusterkeys.DefaultMaxAge / time.Second)
	if !ks.Loaded {
		return
	}
	data["key_set_max_age_seconds"] = int64(ks.MaxAge / time.Second)
	data["key_set_age_seconds"] = int64(ks.Age / time.Second)
	data["key_set_fetched_at"] = ks.FetchedAt.UTC().Format(time.RFC3339)
	data["key_set_fresh"] = ks.Fresh
	data["key_set_kids"] = ks.Kids
	if ks.LastErr != nil {
		data["key_set_last_refresh_error"] = ks.LastErr.Error()
	}
}

// discoveryUnavailable says why a check that needs the cluster's
// discovery document or key set is skipped. cred is who asked; nil means
// no one: the request went out without credentials.
func discoveryUnavailable(what string, err error, cred kube.Credential) string {
	status := kube.Status(err)
	switch {
	case status == http.StatusNotFound:
		return "the API server does not publish " + what + " (its --service-account-issuer is not an https URL), so there is nothing to compare with"
	case (status == http.StatusUnauthorized || status == http.StatusForbidden) && cred == nil:
		return fmt.Sprintf("the API server refused %s to a caller without credentials (HTTP %d), the only way to ask without a reviewer credential, "+
			"so there is nothing to compare with", what, status)
	case status == http.StatusUnauthorized:
		return fmt.Sprintf("the API server does not accept %s (HTTP 401), so there is nothing to compare with", cred)
	case status == http.StatusForbidden:
		return fmt.Sprintf("the API server refused %s to %s (HTTP %d), so there is nothing to compare with; "+
			"ClusterRole system:service-account-issuer-discovery allows reading it", what, cred, status)
	default:
		return "could not read " + what + ": " + err.Error()
	}
}
