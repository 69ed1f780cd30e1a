package realstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// Vault is one Vault server's HTTP API and the token to call it with ("" for
// none).
type Vault struct {
	Addr  string
	Token string
}

// WithToken is the same server called with another token.
func (v Vault) WithToken(token string) Vault { return Vault{Addr: v.Addr, Token: token} }

// Client is Vault's own Go client for this server and token, for the calls
// it covers well. It never retries: a refused request must show as the
// refusal, not be retried into a slower one.
func (v Vault) Client() (*vault.Client, error) {
	cfg := vault.DefaultConfig()
	cfg.Address = v.Addr
	cfg.MaxRetries = 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(v.Token)
	return c, nil
}

// Object is a decoded JSON object, with readers for the kinds of field
// Vault's answers hold. A missing field or one of another type reads as the
// zero value, which the caller's assertion then reports.
type Object map[string]any

// Str reads a string field.
func (o Object) Str(key string) string {
	s, _ := o[key].(string)
	return s
}

// Strs reads a list of strings.
func (o Object) Strs(key string) []string {
	var out []string
	list, _ := o[key].([]any)
	for _, v := range list {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// Num reads a JSON number as an int64.
func (o Object) Num(key string) int64 {
	f, _ := o[key].(float64)
	return int64(f)
}

// Object reads a nested object.
func (o Object) Object(key string) Object {
	m, _ := o[key].(map[string]any)
	return m
}

// StringMap reads an object of strings, such as token or alias metadata.
func (o Object) StringMap(key string) map[string]string {
	in, _ := o[key].(map[string]any)
	out := make(map[string]string, len(in))
	for k, v := range in {
		s, _ := v.(string)
		out[k] = s
	}
	return out
}

// Reply is one HTTP exchange with Vault: what a curl user would see, and how
// long it took.
type Reply struct {
	Req     string // method and URL
	Status  int
	Raw     []byte
	Body    Object // the decoded reply when Vault answered JSON, else nil
	Elapsed time.Duration
}

func (r *Reply) String() string {
	return fmt.Sprintf("%s -> HTTP %d %s (%v)", r.Req, r.Status, bytes.TrimSpace(r.Raw), r.Elapsed.Round(time.Millisecond))
}

// Errors is Vault's "errors" list of an error reply.
func (r *Reply) Errors() []string { return r.Body.Strs("errors") }

// ErrorText is the errors one a line.
func (r *Reply) ErrorText() string { return strings.Join(r.Errors(), "\n") }

// Data is the reply's "data" object.
func (r *Reply) Data() Object {
	d, _ := r.Body["data"].(map[string]any)
	return d
}

// Auth is the reply's "auth" object: what a login or renewal granted.
func (r *Reply) Auth() Object {
	a, _ := r.Body["auth"].(map[string]any)
	return a
}

// OK is true for the 200 or 204 Vault answers a successful request with.
func (r *Reply) OK() bool { return r.Status == http.StatusOK || r.Status == http.StatusNoContent }

// HTTPClient is what Call and the suites' one-off requests use.
var HTTPClient = &http.Client{Timeout: time.Minute}

// Do sends one request to Vault's HTTP API, with X-Vault-Token when the
// token is not empty and a JSON body when body is not nil, and returns
// Vault's answer: a 4xx or 5xx is an answer, not an error. Errors are
// transport failures only. The client is the caller's, so a load test can
// bring its own connection pool.
func (v Vault) Do(ctx context.Context, client *http.Client, method, path string, body any) (*Reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, v.Addr+"/v1/"+path, rd)
	if err != nil {
		return nil, err
	}
	if v.Token != "" {
		req.Header.Set("X-Vault-Token", v.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if method == http.MethodPatch {
			// Vault takes a PATCH only as a JSON merge patch.
			req.Header.Set("Content-Type", "application/merge-patch+json")
		}
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s%s: %w", method, v.Addr, "/v1/"+path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%s /v1/%s: reading the reply: %w", method, path, err)
	}
	r := &Reply{Req: method + " " + v.Addr + "/v1/" + path, Status: resp.StatusCode, Raw: raw, Elapsed: time.Since(start)}
	// Only JSON is decoded: an answer of another type (an error written by
	// Go's HTTP server itself, say) is still an answer, kept raw.
	if len(bytes.TrimSpace(raw)) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			return nil, fmt.Errorf("%s: reply is not JSON: %w", r, err)
		}
	}
	return r, nil
}

// Call is Do for a test: a transport failure fails the test.
func (v Vault) Call(t testing.TB, method, path string, body any) *Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := v.Do(ctx, HTTPClient, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Must calls and fails the test unless Vault answers 200 or 204.
func (v Vault) Must(t testing.TB, method, path string, body any) *Reply {
	t.Helper()
	r := v.Call(t, method, path, body)
	if !r.OK() {
		t.Fatalf("want HTTP 200/204, got %s", r)
	}
	return r
}

// Login is `vault write auth/<mount>/login role=... jwt=...` as plain HTTP:
// no Vault token, only the role and the service-account JWT.
func (v Vault) Login(t testing.TB, mount, role, jwt string) *Reply {
	t.Helper()
	return v.WithToken("").Call(t, http.MethodPost, "auth/"+mount+"/login", map[string]any{"role": role, "jwt": jwt})
}

// MustLogin logs in and returns the client token.
func (v Vault) MustLogin(t testing.TB, mount, role, jwt string) string {
	t.Helper()
	r := v.Login(t, mount, role, jwt)
	tok := r.Auth().Str("client_token")
	if r.Status != http.StatusOK || tok == "" {
		t.Fatalf("login with role %q: want HTTP 200 with a client token, got %s", role, r)
	}
	return tok
}

// LoginEventually retries a login until it succeeds or the window closes:
// for the moments when Vault itself is still recovering (a new leader, a
// restarted plugin). It returns the token, the attempts made and the first
// failure seen.
func (v Vault) LoginEventually(t testing.TB, mount, role, jwt string, window time.Duration) (string, int, string) {
	t.Helper()
	deadline := time.Now().Add(window)
	var first, last string
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := v.WithToken("").Do(ctx, HTTPClient, http.MethodPost, "auth/"+mount+"/login", map[string]any{"role": role, "jwt": jwt})
		cancel()
		switch {
		case err != nil:
			last = err.Error()
		case r.Status == http.StatusOK && r.Auth().Str("client_token") != "":
			return r.Auth().Str("client_token"), attempt, first
		default:
			last = r.String()
		}
		if first == "" {
			first = last
		}
		if time.Now().After(deadline) {
			t.Fatalf("login with role %q through %s still failing after %v and %d attempts; last: %s", role, v.Addr, window, attempt, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// ExpectDenied checks the answer to a failed authentication: HTTP 403 with
// nothing but "permission denied", whatever the reason (it goes to the
// log), and no auth.
func ExpectDenied(t testing.TB, r *Reply) {
	t.Helper()
	if r.Status != http.StatusForbidden || !slices.Equal(r.Errors(), []string{"permission denied"}) {
		t.Fatalf(`want HTTP 403 {"errors":["permission denied"]}, got %s`, r)
	}
	if r.Auth() != nil {
		t.Fatalf("a refused login carries auth: %s", r)
	}
}

// ReviewerConfig is a complete config for the stack's apiserver: host, CA
// and the reviewer's token, with the given fields added or replaced.
func (s *Stack) ReviewerConfig(extra map[string]any) map[string]any {
	return reviewerConfig(s.KubeHost, s.KubeCA, s.ReviewerJWT, extra)
}

// ReviewerConfig is the same for a second cluster: a complete body for its
// cluster/<name> entry.
func (c *Cluster) ReviewerConfig(extra map[string]any) map[string]any {
	return reviewerConfig(c.Host, c.CA, c.ReviewerJWT, extra)
}

func reviewerConfig(host, ca, reviewerJWT string, extra map[string]any) map[string]any {
	cfg := map[string]any{
		"kubernetes_host":    host,
		"kubernetes_ca_cert": ca,
		"token_reviewer_jwt": reviewerJWT,
	}
	maps.Copy(cfg, extra)
	return cfg
}

// BindRole is a role body binding exactly this workload's service account,
// for the audience "vault", with the given fields added or replaced.
func BindRole(w Workload, extra map[string]any) map[string]any {
	r := map[string]any{
		"bound_service_account_names":      []string{w.SA.Name},
		"bound_service_account_namespaces": []string{w.Namespace},
		"audience":                         "vault",
	}
	maps.Copy(r, extra)
	return r
}
