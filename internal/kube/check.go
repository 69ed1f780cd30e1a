package kube

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
	authv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The calls config/check makes to Kubernetes, with the reviewer credential
// (none in the self-review mode, where there is no credential of our own).
// None of them is made by a login.

// OIDC discovery paths every kube-apiserver with an https issuer serves.
// JWKSPath is exported for the fix a check suggests (kubectl get --raw).
const (
	discoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/openid/v1/jwks"
)

// Probe is what one GET /version tells about the API server: whether it
// answers, over which TLS, how fast, and what its clock says.
type Probe struct {
	Err       error // the call failed (an *APIError); nothing below is set
	Status    int
	Version   string        // gitVersion, when /version answered 200
	RoundTrip time.Duration // from sending the request to its answer's headers
	// VaultTime is Vault's clock halfway through the round trip, the moment
	// the API server most likely stamped its Date header.
	VaultTime time.Time
	Date      time.Time // the Date header; zero when absent or unreadable
	TLS       bool      // answered over a verified TLS connection
	// VerifiedBy is the trusted certificate the server's chain ends at;
	// ServerNotAfter is when the server's own certificate expires.
	VerifiedBy     *x509.Certificate
	ServerNotAfter time.Time
}

// Probe asks for /version, which every API server lets any caller read. Any
// HTTP answer proves the server reachable and its certificate trusted, even
// a 401 for a credential it no longer accepts. A credential that cannot be
// read (the pod's token file) does not stop the probe: it goes anonymous.
func (k *Client) Probe(ctx context.Context, now func() time.Time) Probe {
	callCtx, cancel, err := k.callContext(ctx, "")
	if err != nil {
		callCtx, cancel = context.WithTimeout(ctx, k.timeout)
	}
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodGet, k.host+"/version", nil)
	if err != nil {
		return Probe{Err: k.apiError("version request", err)}
	}
	req.Header.Set("Accept", "application/json")
	sent, start := now(), time.Now()
	resp, err := k.httpClient.Do(req)
	rtt := time.Since(start)
	if err != nil {
		return Probe{Err: k.apiError("version request", err)}
	}
	defer func() {
		// Read to the end (bounded by the transport) so the connection
		// can serve the next call.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	p := Probe{Status: resp.StatusCode, RoundTrip: rtt, VaultTime: sent.Add(rtt / 2)}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		p.Date = d
	}
	if cs := resp.TLS; cs != nil {
		p.TLS = true
		if len(cs.PeerCertificates) > 0 {
			p.ServerNotAfter = cs.PeerCertificates[0].NotAfter
		}
		if len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
			chain := cs.VerifiedChains[0]
			p.VerifiedBy = chain[len(chain)-1]
		}
	}
	if resp.StatusCode == http.StatusOK {
		var v struct {
			GitVersion string `json:"gitVersion"`
		}
		if json.NewDecoder(resp.Body).Decode(&v) == nil {
			p.Version = v.GitVersion
		}
	}
	return p
}

// WhoAmI is the identity the API server gives the credential
// (SelfSubjectReview, which every authenticated user may create).
func (k *Client) WhoAmI(ctx context.Context) (authv1.UserInfo, error) {
	ctx, cancel, err := k.callContext(ctx, "")
	if err != nil {
		return authv1.UserInfo{}, err
	}
	defer cancel()
	out, err := k.clientset.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return authv1.UserInfo{}, k.apiError("SelfSubjectReview", err)
	}
	return out.Status.UserInfo, nil
}

// MayI asks whether the credential may do what attrs describe
// (SelfSubjectAccessReview, which every authenticated user may create).
func (k *Client) MayI(ctx context.Context, attrs authzv1.ResourceAttributes) (authzv1.SubjectAccessReviewStatus, error) {
	ctx, cancel, err := k.callContext(ctx, "")
	if err != nil {
		return authzv1.SubjectAccessReviewStatus{}, err
	}
	defer cancel()
	review := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
	out, err := k.clientset.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return authzv1.SubjectAccessReviewStatus{}, k.apiError("SelfSubjectAccessReview", err)
	}
	return out.Status, nil
}

// Discovery is the part of the cluster's OIDC discovery document the
// checks compare with the config.
type Discovery struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// Discovery reads the issuer the cluster announces for its
// service-account tokens.
func (k *Client) Discovery(ctx context.Context) (Discovery, error) {
	body, err := k.GetPath(ctx, discoveryPath)
	if err != nil {
		return Discovery{}, err
	}
	return parseDiscovery(body)
}

func parseDiscovery(body []byte) (Discovery, error) {
	var d Discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return Discovery{}, fmt.Errorf("the discovery document %s is not JSON: %w", discoveryPath, err)
	}
	if d.Issuer == "" {
		return Discovery{}, fmt.Errorf("the discovery document %s names no issuer", discoveryPath)
	}
	return d, nil
}

// PublishedKey is one of the keys the cluster publishes for verifying its
// service-account tokens.
type PublishedKey struct {
	KID string
	Key crypto.PublicKey
}

// PublishedKeys reads the cluster's JWKS.
func (k *Client) PublishedKeys(ctx context.Context) ([]PublishedKey, error) {
	body, err := k.GetPath(ctx, JWKSPath)
	if err != nil {
		return nil, err
	}
	return parseJWKS(body)
}

// parseJWKS keeps the public signature keys of a JWKS. A key that is not
// one (another type, for encryption, a private key) is left out rather than
// failing the set, as a verifier would ignore it.
func parseJWKS(body []byte) ([]PublishedKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("the key set %s is not a JWKS: %w", JWKSPath, err)
	}
	var keys []PublishedKey
	for _, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil || !jwk.Valid() || !jwk.IsPublic() || (jwk.Use != "" && jwk.Use != "sig") {
			continue
		}
		keys = append(keys, PublishedKey{KID: jwk.KeyID, Key: jwk.Key})
	}
	if len(keys) == 0 {
		return nil, errors.New("the key set " + JWKSPath + " holds no public signature key")
	}
	return keys, nil
}
