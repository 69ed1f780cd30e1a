package kubeauth

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// Each refused login is one info line "login refused" and each fault one
// error line "login failed", with the role, the reason code or fault kind,
// what happened (the detail, or the error Kubernetes answered) and the
// client's address; no line of any login holds the JWT or a part of it.
func TestLoginLogLines(t *testing.T) {
	type fields map[string]string // field -> substring its value must hold
	cases := []struct {
		name    string
		setup   func(e *testEnv)
		token   func(e *testEnv) string
		message string // "" for no line at all
		level   string
		want    fields
	}{
		{
			name:    "expired",
			token:   (*testEnv).expiredToken,
			message: "login refused", level: "info",
			want: fields{"reason": refusal.ReasonExpired, "detail": "expired"},
		},
		{
			name:    "namespace not bound",
			token:   func(e *testEnv) string { return e.tokenFor("elsewhere", testkit.SAName, testkit.SAUID) },
			message: "login refused", level: "info",
			want: fields{"reason": refusal.ReasonNamespace, "detail": `namespace "elsewhere"`},
		},
		{
			name:    "rejected by the TokenReview",
			setup:   func(e *testEnv) { e.kube.deleteServiceAccount(testkit.Namespace, testkit.SAName) },
			token:   (*testEnv).token,
			message: "login refused", level: "info",
			want: fields{"reason": refusal.ReasonReviewRejected, "detail": "has been deleted"},
		},
		{
			name: "reviewer refused",
			setup: func(e *testEnv) {
				e.kube.answerStatus(everyPath, http.StatusForbidden, `tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:vault:reviewer" cannot create resource`)
			},
			token:   (*testEnv).token,
			message: "login failed", level: "error",
			want: fields{"kind": refusal.FaultKubeForbidden, "error": "cannot create resource"},
		},
		{
			name: "Kubernetes failing",
			setup: func(e *testEnv) {
				e.kube.answerStatus(everyPath, http.StatusInternalServerError, "etcdserver: request timed out")
			},
			token:   (*testEnv).token,
			message: "login failed", level: "error",
			want: fields{"kind": refusal.FaultKubeStatus, "error": "etcdserver: request timed out"},
		},
		{
			name:    "not a JWT",
			token:   func(*testEnv) string { return "not-a-jwt.c2VjcmV0LXBheWxvYWQ.c2VjcmV0LXNpZ25hdHVyZQ" },
			message: "", // a 400 that names the field, no log line
		},
		{
			name:    "success",
			token:   (*testEnv).token,
			message: "login passed", level: "debug",
			want: fields{"service_account": "apps/web"},
		},
		{
			name: "success from the review cache",
			setup: func(e *testEnv) {
				e.writeRole(testRole, map[string]any{"review_mode": "cached"})
				e.mustLogin(testRole, e.token())
			},
			token:   (*testEnv).token,
			message: "login passed", level: "debug",
			want: fields{"verified_by": verifiedByCache},
		},
		{
			name:    "success with the cluster's keys",
			setup:   func(e *testEnv) { e.writeRole(testRole, map[string]any{"review_mode": "hybrid"}) },
			token:   func(e *testEnv) string { return e.boundToken(time.Now(), nil) },
			message: "login passed", level: "debug",
			want: fields{"verified_by": verifiedByLocal},
		},
		{
			name:  "unknown signing key: reviewed, and refused by the review",
			setup: func(e *testEnv) { e.writeRole(testRole, map[string]any{"review_mode": "hybrid"}) },
			token: func(e *testEnv) string {
				return testkit.SignJWTWithKid(e.t, testkit.PrivateKey(e.t, "other.key"), "not-the-cluster-s", testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault"))
			},
			message: "login refused", level: "info",
			want: fields{"reason": refusal.ReasonReviewRejected},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := configured(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			tok := tc.token(e)
			offset := len(e.logs.String())
			_, _ = e.login(testRole, tok)

			lines := e.logLines(offset)
			var found []map[string]any
			for _, l := range lines {
				if tc.message != "" && l["@message"] == tc.message {
					found = append(found, l)
				}
			}
			if tc.message == "" && len(lines) != 0 {
				t.Errorf("want no log line, got %v", lines)
			}
			if tc.message != "" {
				if len(found) != 1 {
					t.Fatalf("want one %q line, got %d in %v", tc.message, len(found), lines)
				}
				l := found[0]
				if l["@level"] != tc.level {
					t.Errorf("level %v, want %s", l["@level"], tc.level)
				}
				want := fields{"role": testRole, "remote_addr": "10.1.2.3"}
				for k, v := range tc.want {
					want[k] = v
				}
				for k, sub := range want {
					if v, _ := l[k].(string); !strings.Contains(v, sub) {
						t.Errorf("field %s = %q, want it to hold %q (line %v)", k, v, sub, l)
					}
				}
			}
			// Neither the JWT nor any of its three parts (the payload
			// alone can be replayed into a forged token's claims) is ever
			// written.
			log := e.logs.String()
			for i, part := range append([]string{tok}, strings.Split(tok, ".")...) {
				if len(part) >= 8 && strings.Contains(log, part) {
					t.Errorf("the log holds the JWT (part %d):\n%s", i, log)
				}
			}
			if strings.Contains(log, testReviewer) {
				t.Errorf("the log holds the reviewer JWT:\n%s", log)
			}
		})
	}
}
