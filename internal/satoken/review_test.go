package satoken

import (
	"errors"
	"testing"

	authv1 "k8s.io/api/authentication/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// What CheckReview makes of each answer a TokenReview can bring back (the
// client that asks is tested in internal/kube).
func TestCheckReviewAnswers(t *testing.T) {
	claimed := Identity{Namespace: testkit.Namespace, Name: testkit.SAName, UID: testkit.SAUID}
	good := authv1.TokenReviewStatus{
		Authenticated: true,
		User: authv1.UserInfo{Username: "system:serviceaccount:apps:web", UID: testkit.SAUID,
			Extra: map[string]authv1.ExtraValue{ExtraPodName: {"web-0"}, ExtraPodUID: {"pod-uid"}}},
		Audiences: []string{"vault"},
	}
	otherAudience := good
	otherAudience.Audiences = []string{"https://kubernetes.default.svc"}
	cases := []struct {
		name   string
		status authv1.TokenReviewStatus
		reason string // "" = accepted
	}{
		{"authenticated", good, ""},
		{"unauthenticated", authv1.TokenReviewStatus{}, refusal.ReasonReviewRejected},
		{"status.error", authv1.TokenReviewStatus{Error: "token expired"}, refusal.ReasonReviewRejected},
		{"audience mismatch", otherAudience, refusal.ReasonAudienceMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := CheckReview(&tc.status, claimed, []string{"vault"})
			var ref *refusal.Refusal
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.reason == "" && (id.PodName != "web-0" || id.PodUID != "pod-uid" || id.UID != testkit.SAUID):
				t.Fatalf("identity %+v", id)
			case tc.reason != "" && (!errors.As(err, &ref) || ref.Reason != tc.reason):
				t.Fatalf("got %v, want reason %s", err, tc.reason)
			}
		})
	}
}

func TestParseServiceAccountUsername(t *testing.T) {
	cases := []struct {
		in       string
		ns, name string
		ok       bool
	}{
		{"system:serviceaccount:apps:web", "apps", "web", true},
		{"system:serviceaccount:apps", "", "", false},
		{"system:serviceaccount::web", "", "", false},
		{"system:serviceaccount:apps:", "", "", false},
		{"system:serviceaccount:a:b:c", "", "", false},
		{"system:node:apps:web", "", "", false},
		{"", "", "", false},
	}
	for _, tc := range cases {
		ns, name, ok := ParseUsername(tc.in)
		if ns != tc.ns || name != tc.name || ok != tc.ok {
			t.Errorf("%q: got %q %q %v", tc.in, ns, name, ok)
		}
	}
}

func TestReviewAudiences(t *testing.T) {
	if got := ReviewAudiences([]string{"vault", "other"}, []string{"a"}); len(got) != 2 || got[0] != "vault" {
		t.Errorf("got %v", got)
	}
	if got := ReviewAudiences([]string{"vault"}, []string{"a"}); len(got) != 1 || got[0] != "vault" {
		t.Errorf("role audience: %v", got)
	}
	if got := ReviewAudiences(nil, []string{"a", "b"}); len(got) != 2 {
		t.Errorf("token audiences: %v", got)
	}
}

// The answer is held to the letter of the TokenReview API: an error next to
// authenticated=true is a refusal, and when the review asked about
// audiences, the answer must name one of them.
func TestCheckReviewStrict(t *testing.T) {
	claimed := Identity{Namespace: testkit.Namespace, Name: testkit.SAName, UID: testkit.SAUID}
	user := authv1.UserInfo{Username: "system:serviceaccount:apps:web", UID: testkit.SAUID}
	cases := []struct {
		name   string
		status authv1.TokenReviewStatus
		asked  []string
		reason string // "" = accepted
	}{
		{"authenticated with an error", authv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: []string{"vault"}, Error: "token has been invalidated"}, []string{"vault"}, refusal.ReasonReviewRejected},
		{"token's own audiences, answer names none", authv1.TokenReviewStatus{Authenticated: true, User: user}, []string{"vault", "other"}, refusal.ReasonAudienceMismatch},
		{"token's own audiences, answer names others", authv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: []string{"api"}}, []string{"vault", "other"}, refusal.ReasonAudienceMismatch},
		{"token's own audiences, answer names one", authv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: []string{"other"}}, []string{"vault", "other"}, ""},
		{"role audience named", authv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: []string{"vault"}}, []string{"vault"}, ""},
		// Nothing asked (a legacy token without aud): the API server checked
		// its own audience, which the answer need not repeat.
		{"nothing asked, none answered", authv1.TokenReviewStatus{Authenticated: true, User: user}, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckReview(&tc.status, claimed, tc.asked)
			var ref *refusal.Refusal
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.reason != "" && (!errors.As(err, &ref) || ref.Reason != tc.reason):
				t.Fatalf("got %v, want reason %s", err, tc.reason)
			}
		})
	}
}
