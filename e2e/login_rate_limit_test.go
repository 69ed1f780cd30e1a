package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// rawLogin logs in with plain HTTP and returns the status, the
// Retry-After header and the errors, which Reply does not keep.
func rawLogin(t *testing.T, m *mount, role, jwt string) (status int, retryAfter string, errs []string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"role": role, "jwt": jwt})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, stk.Vault.Addr+"/v1/auth/"+m.path+"/login", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Errors []string `json:"errors"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header.Get("Retry-After"), out.Errors
}

// A storm of logins from one pod's token is answered 429 once the pod's
// burst is spent, while another pod of the same service account and role
// logs in. Vault passes the Retry-After header on only once the mount
// allows it (allowed_response_headers); the message says when to retry
// either way, and nothing of the setup. The refusals are counted, and cost
// the cluster no TokenReview.
func TestLoginRateLimitStorm(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "rl", nil)
	node := newNode(t)
	stormy := podToken(t, newBoundPod(t, w.Namespace, w.SA.Name, "stormy-0", node, nil))
	calm := podToken(t, newBoundPod(t, w.Namespace, w.SA.Name, "calm-0", node, nil))
	m.bindRole(t, "app", w, map[string]any{"login_rate_limit": "2/1h"})

	m.mustLogin(t, "app", stormy)
	m.mustLogin(t, "app", stormy)
	storm := func(wantHeader bool) {
		for i := range 25 {
			status, retryAfter, errs := rawLogin(t, m, "app", stormy)
			if status != http.StatusTooManyRequests {
				t.Fatalf("storm login %d: HTTP %d %v, want 429", i, status, errs)
			}
			msg := strings.Join(errs, "\n")
			if !strings.Contains(msg, "logs in too often") || !strings.Contains(msg, "retry in") || strings.Contains(msg, "2/1h") {
				t.Fatalf("storm login %d: the caller is told %q", i, msg)
			}
			if secs, err := strconv.Atoi(retryAfter); wantHeader && (err != nil || secs < 1 || secs > 3600) {
				t.Fatalf("storm login %d: Retry-After %q, want 1..3600 seconds", i, retryAfter)
			} else if !wantHeader && retryAfter != "" {
				t.Fatalf("storm login %d: Retry-After %q on a mount that does not allow the header", i, retryAfter)
			}
			if i == 10 {
				m.mustLogin(t, "app", calm) // the other pod is not limited by this one
			}
		}
	}
	storm(false)
	expectOK(t, root(t, http.MethodPost, "sys/auth/"+m.path+"/tune", map[string]any{"allowed_response_headers": []string{"Retry-After"}}))
	storm(true)
	// calm-0 logged in once in each storm: its own two of the hour.
	if status, _, _ := rawLogin(t, m, "app", calm); status != http.StatusTooManyRequests {
		t.Fatalf("calm-0's third login of the hour: HTTP %d, want 429", status)
	}
	// Every refusal counted as rate_limited, and no TokenReview made for
	// any of them: only the four logins that passed were reviewed.
	body := scrape(t, m.path, stk.Vault.Token)
	for _, line := range []string{
		`kubeauth_refusals_total{cluster="default",reason="rate_limited",role="app"} 51`,
		`kubeauth_logins_total{cluster="default",outcome="success",role="app"} 4`,
		`kubeauth_tokenreview_duration_seconds_count{cluster="default",result="authenticated"} 4`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("the exposition lacks %q:\n%s", line, body)
		}
	}
}
