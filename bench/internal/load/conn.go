package load

import (
	"context"

	vault "github.com/hashicorp/vault/api"

	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// NewTransport keeps enough idle connections for every client: Go's default
// of two per host would make most requests open a new TCP connection and the
// benchmark would measure connection setup instead of logins.
func NewTransport(clients int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4*clients + 8,
		MaxIdleConnsPerHost: 2*clients + 4,
		IdleConnTimeout:     2 * time.Minute,
	}
}

// Conn is how every request reaches Vault: its address, the per-request
// timeout and the one transport all clients share.
type Conn struct {
	Addr      string
	Timeout   time.Duration
	Transport *http.Transport
}

// Client returns a client with token (empty: none) that never retries:
// a retried 5xx would hide a failure and stretch the latency it was part of.
func (c Conn) Client(token string) (*vault.Client, error) {
	cfg := vault.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("vault client config: %w", cfg.Error)
	}
	cfg.Address = c.Addr
	cfg.HttpClient = &http.Client{
		Transport: c.Transport,
		// The API client handles Vault's redirects itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	cfg.MaxRetries = 0
	cfg.Timeout = c.Timeout
	client, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	// NewClient picks up VAULT_TOKEN from the environment; logins must not
	// carry the operator's token.
	if token == "" {
		client.ClearToken()
	} else {
		client.SetToken(token)
	}
	return client, nil
}

// CheckIssued is the success criterion for every timed request: a response
// that carries a client token.
func CheckIssued(s *vault.Secret) error {
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return errors.New("response carries no client token")
	}
	return nil
}

// Issue writes body to path and requires the answer to carry a client
// token, as every timed request must.
func Issue(ctx context.Context, c *vault.Client, path string, body map[string]any) (*vault.Secret, error) {
	s, err := c.Logical().WriteWithContext(ctx, path, body)
	if err == nil {
		err = CheckIssued(s)
	}
	return s, err
}
