package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/clusterkeys"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/diagnose"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// maxJWKSURLLen bounds jwks_url: a real one is a host and a short path.
const maxJWKSURLLen = 2048

func jwksURLField() *framework.FieldSchema {
	return &framework.FieldSchema{
		Type: framework.TypeString,
		Description: "Where the cluster's service-account signing keys (a JSON Web Key Set) are read, instead of the API " +
			"server's /openid/v1/jwks, for review_mode hybrid and local. On the API server's own origin (scheme, host and " +
			"port of kubernetes_host) it is read with the reviewer credential; anywhere else without any credential, " +
			"trusting the system roots and kubernetes_ca_cert. An absolute https:// URL without credentials or fragment.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "JWKS URL"},
	}
}

// validateJWKSURL checks jwks_url on write: "" (unset), or an absolute
// http(s) URL with a host, no userinfo (a secret in the URL would be sent
// to whoever serves it, and read back by anyone who may read the config)
// and no fragment (never sent, so it can only be a mistake). Plain http is
// accepted with a warning (jwksURLWarnings), as kubernetes_host is.
func validateJWKSURL(raw string) error {
	if raw == "" {
		return nil
	}
	if len(raw) > maxJWKSURLLen {
		return fmt.Errorf("jwks_url: is %d bytes; at most %d", len(raw), maxJWKSURLLen)
	}
	shown := shownURL(raw)
	if strings.TrimSpace(raw) != raw || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("jwks_url: %.64q holds white space or a control character", shown)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a password
		}
		return fmt.Errorf("jwks_url: %.64q is not a URL: %w", shown, err)
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("jwks_url: %.64q must not carry credentials", shown)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("jwks_url: %.64q must be an absolute https:// URL", shown)
	case u.Hostname() == "" || u.Opaque != "":
		return fmt.Errorf("jwks_url: %.64q has no host name", shown)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("jwks_url: %.64q must not have a fragment", shown)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("jwks_url: %.64q has an invalid port", shown)
		}
	}
	return nil
}

// shownURL is raw as an error may quote it: with its password replaced,
// and not at all when it does not parse and may hold one.
func shownURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err == nil:
		return u.Redacted()
	case strings.Contains(raw, "@"):
		return "(a URL with userinfo)"
	}
	return raw
}

// jwksURLWarnings are jwks_url settings that work but deserve a word.
func jwksURLWarnings(st *liveCluster) []string {
	cfg := st.config
	if cfg.JWKSURL == "" {
		return nil
	}
	var w []string
	if strings.HasPrefix(cfg.JWKSURL, "http://") {
		w = append(w, fmt.Sprintf("jwks_url %.64q is plain HTTP: whoever is on the path can hand the plugin keys of their choosing "+
			"and so log in as any service account in review_mode hybrid or local; serve the key set over https:// and set jwks_url to that address", cfg.JWKSURL))
	}
	if cfg.Issuer == "" && !st.hasReviewer() {
		w = append(w, "jwks_url is set, and issuer is not: tokens verified with its keys are held to the issuer the API server announces, "+
			"which the plugin, without a reviewer credential, reads anonymously; set issuer to the cluster's issuer so the keys alone suffice")
	}
	return w
}

// A PATCH that changes jwks_url alone does not have to send a stored
// reviewer JWT again (credentialDestination does not name it): no fetch
// sends the credential anywhere but kubernetes_host's origin, which every
// TokenReview already reaches, so moving jwks_url moves no secret. What it
// does change is which keys vouch for tokens, as pem_keys and issuer do:
// the patch capability on config is as privileged as update.

// keyFetcher GETs the key set's documents. The key set fetches on its own
// goroutines, not on a login's behalf, so a login JWT is never what
// authorizes a fetch.
//
// What each fetch sends, and whom it trusts:
//   - the API server's own paths (the issuer's discovery document, and the
//     keys when jwks_url is unset) and a jwks_url on the API server's origin
//     (scheme, host and port of kubernetes_host): the config's client, so
//     its CA and its reviewer credential (token_reviewer_jwt, or Vault's pod
//     token where Vault runs in a pod and disable_local_ca_jwt is false).
//     That server already receives the credential with every TokenReview.
//     When there is no reviewer the fetch is anonymous: the client's
//     credential is then the login JWT, which a call on no login's behalf
//     does not carry.
//   - a jwks_url on any other origin (a public OIDC address, a bucket):
//     anonymous, with no bearer token and no client certificate, so that no
//     secret of the config reaches a server that is not the API server.
//     Such a document is public by design; TLS (system roots and the
//     config's CA) is what vouches for it.
type keyFetcher struct {
	client  *kube.Client
	keysURL string                // jwks_url; "" reads the API server's /openid/v1/jwks
	anon    *kube.AnonymousGetter // for a keysURL on another origin; nil otherwise
}

func (f keyFetcher) Get(ctx context.Context, path string) ([]byte, error) {
	switch {
	case f.keysURL == "" || path != f.keysURL:
		return f.client.GetPath(ctx, path)
	case f.anon != nil:
		return f.anon.Get(ctx, path)
	default:
		return f.client.GetURL(ctx, path)
	}
}

// close releases what the fetcher owns (the anonymous getter's connections).
func (f keyFetcher) close() {
	if f.anon != nil {
		f.anon.Close()
	}
}

// newKeyFetcher is the fetcher of cfg's key set, through client and, for a
// jwks_url on another origin, an anonymous getter trusting caPEM too.
func newKeyFetcher(cfg *clusterConfig, client *kube.Client, caPEM, caOrigin string, timeout time.Duration) (keyFetcher, error) {
	f := keyFetcher{client: client, keysURL: cfg.JWKSURL}
	if cfg.JWKSURL == "" || client.SameOrigin(cfg.JWKSURL) {
		return f, nil
	}
	proxy, err := parseProxyURL(cfg.ProxyURL)
	if err != nil {
		return keyFetcher{}, err
	}
	anon, err := kube.NewAnonymousGetter(caPEM, caOrigin, timeout, proxy)
	if err != nil {
		return keyFetcher{}, fmt.Errorf("jwks_url: %w", err)
	}
	f.anon = anon
	return f, nil
}

// keysSource says where the cluster's signing keys are read and with which
// credential, for explain and config/check.
func keysSource(st *liveCluster) string {
	cfg := st.config
	switch {
	case len(st.keys) > 0:
		return "pem_keys"
	case cfg.JWKSURL == "":
		return fmt.Sprintf("%s/openid/v1/jwks, read with %s", st.kube.Host(), keyCredentialName(st))
	case st.kube.SameOrigin(cfg.JWKSURL):
		return fmt.Sprintf("jwks_url %s (the API server's origin), read with %s", cfg.JWKSURL, keyCredentialName(st))
	default:
		return fmt.Sprintf("jwks_url %s, read without a credential (not the API server's origin)", cfg.JWKSURL)
	}
}

// keyCredentialName names the credential a fetch from the API server
// carries: none without a reviewer (the login JWT is never used).
func keyCredentialName(st *liveCluster) string {
	if !st.hasReviewer() {
		return "no credential (there is no reviewer credential; the login JWT is never used)"
	}
	return st.kube.Credential().String()
}

// diagnoseJWKSURL is config/check's jwks_url check, only for a config that
// sets it (ok false otherwise, so other answers stay what they were): the
// key set read now, as the plugin reads it, and parsed as it parses it.
func diagnoseJWKSURL(ctx context.Context, st *liveCluster, usage diagnose.Usage) (diagnose.Result, bool) {
	cfg := st.config
	if cfg.JWKSURL == "" {
		return diagnose.Result{}, false
	}
	o := diagnose.JWKSObserved{
		URL:        cfg.JWKSURL,
		Credential: jwksCredentialName(st),
		LocalRoles: diagnose.FirstN(append(slices.Clone(usage.Local), usage.Hybrid...), 10),
	}
	body, err := st.keysFetcher.Get(ctx, cfg.JWKSURL)
	if err != nil {
		o.FetchErr = err
	} else {
		o.Kids, o.Notes, o.ParseErr = clusterkeys.KeySetKids(body)
	}
	return diagnose.JWKSURL(o), true
}

// jwksCredentialName says what a read of jwks_url carries.
func jwksCredentialName(st *liveCluster) string {
	if st.kube.SameOrigin(st.config.JWKSURL) {
		return keyCredentialName(st)
	}
	return "no credential (not the API server's origin)"
}
