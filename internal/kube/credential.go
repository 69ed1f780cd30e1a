package kube

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Credential yields the bearer token for one call to Kubernetes. Which one a
// config uses is the plugin's decision; how each is read is the client's.
type Credential interface {
	// Token is the bearer token for a call made on behalf of loginJWT ("" for
	// calls made on no login's behalf).
	Token(loginJWT string) (string, error)
	// String names the credential for an operator fixing its permissions.
	String() string
}

// StaticToken is the configured token_reviewer_jwt.
type StaticToken string

func (c StaticToken) Token(string) (string, error) { return string(c), nil }

func (StaticToken) String() string { return "token_reviewer_jwt" }

// LoginJWT reviews a token with itself: the service account being
// logged in must then be allowed to create TokenReviews.
type LoginJWT struct{}

func (LoginJWT) Token(loginJWT string) (string, error) { return loginJWT, nil }

func (LoginJWT) String() string { return "the login JWT" }

// TokenFile is a token file that the kubelet rotates in place. It is
// re-read only when its modification time or size changes, so each login
// costs one stat, and a rotated token is used from the next call on.
type TokenFile struct {
	path string

	mu      sync.Mutex // guards the fields below
	modTime time.Time
	size    int64
	cached  string
}

// NewTokenFile reads the token at path when a call first needs it, so a
// file that appears or is fixed later is picked up without a config write.
func NewTokenFile(path string) *TokenFile { return &TokenFile{path: path} }

// Path is where the token is read from, for config/check to name.
func (f *TokenFile) Path() string { return f.path }

func (f *TokenFile) String() string {
	return "the pod's service-account token " + f.path
}

func (f *TokenFile) Token(string) (string, error) {
	info, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("reading the pod's service-account token: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cached != "" && info.ModTime().Equal(f.modTime) && info.Size() == f.size {
		return f.cached, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("reading the pod's service-account token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("the pod's service-account token %s is empty", f.path)
	}
	f.cached, f.modTime, f.size = token, info.ModTime(), info.Size()
	return token, nil
}

// ReviewsItself says whether c is no reviewer at all: each login's JWT
// makes its own TokenReview. The one place the rule is spelled; without a
// reviewer the plugin can ask a cluster nothing on its own behalf.
func ReviewsItself(c Credential) bool {
	_, self := c.(LoginJWT)
	return self
}

// ClientCertificate is token_reviewer_client_cert: the reviewer proves who
// it is in the TLS handshake (Options.ClientCert), so no call carries a
// bearer token, the login JWT included.
type ClientCertificate struct {
	Subject string // the certificate's subject, the user the API server sees
}

func (ClientCertificate) Token(string) (string, error) { return "", nil }

func (ClientCertificate) String() string { return "token_reviewer_client_cert" }
