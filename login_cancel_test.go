package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// A login whose caller goes away while its TokenReview runs ends at once,
// is counted and logged (at info, not error) as the fault kind canceled,
// not internal, and its TokenReview is canceled: the API server sees the
// request end, though the client's own bound is far away.
func TestAbandonedLoginCancelsItsReview(t *testing.T) {
	e := newTestEnv(t)
	e.b.requestTimeout = time.Hour // only the cancellation can end the review
	e.writeConfig(nil)
	e.writeRole(testRole, nil)

	started := make(chan struct{}, 1)
	reviewEnded := make(chan struct{})
	e.kube.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/tokenreviews") {
			return false
		}
		// The server notices a client gone only once the body is read.
		io.Copy(io.Discard, r.Body)
		started <- struct{}{}
		<-r.Context().Done()
		close(reviewEnded)
		return true
	})

	ctx, cancel := context.WithCancel(t.Context())
	type result struct {
		resp *logical.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := e.b.HandleRequest(ctx, &logical.Request{
			Operation: logical.UpdateOperation, Path: "login", Storage: e.storage,
			Data:       map[string]any{"role": testRole, "jwt": e.token()},
			Connection: &logical.Connection{RemoteAddr: "10.1.2.3"},
		})
		done <- result{resp, err}
	}()
	<-started
	offset := len(e.logs.String())
	cancel()
	r := <-done
	if !errors.Is(r.err, refusal.ErrCanceled) {
		t.Fatalf("abandoned login answered %v %#v, want %v", r.err, r.resp, refusal.ErrCanceled)
	}

	mfs := e.scrape()
	requireSeries(t, mfs,
		wantSeries{"kubeauth_faults_total", []string{"cluster", "default", "kind", refusal.FaultCanceled, "role", testRole}, 1},
		wantSeries{"kubeauth_logins_total", []string{"cluster", "default", "outcome", "fault", "role", testRole}, 1},
	)
	if v := metricValue(mfs, "kubeauth_faults_total", "cluster", "default", "kind", refusal.FaultInternal, "role", testRole); v > 0 {
		t.Errorf("the abandoned login counted as internal (%v)", v)
	}
	var lines []map[string]any
	for _, l := range e.logLines(offset) {
		if l["@message"] == "login failed" {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || lines[0]["kind"] != refusal.FaultCanceled || lines[0]["@level"] != "info" {
		t.Fatalf("want one info line login failed kind=%s, got %v", refusal.FaultCanceled, lines)
	}

	// The test's own timeout bounds this wait: a review left running
	// ends only at its hour-long bound.
	<-reviewEnded
}

// Only a login whose own request was canceled is the caller's doing: the
// same error with the request still live (a key set closed under it), a
// request out of time, a refusal or a bad input keep their own kinds.
func TestCallerGoneClassification(t *testing.T) {
	live := context.Background()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want string // fault kind; "" for no fault
	}{
		{"canceled request, its review canceled", canceled, fmt.Errorf("review: %w", context.Canceled), refusal.FaultCanceled},
		{"canceled request, any fault", canceled, errors.New("boom"), refusal.FaultCanceled},
		{"live request, something else canceled", live, fmt.Errorf("keys: %w", context.Canceled), refusal.FaultInternal},
		{"request out of time", expired, fmt.Errorf("review: %w", context.DeadlineExceeded), refusal.FaultInternal},
		{"canceled request, a refusal", canceled, refusal.New(refusal.ReasonExpired, "expired"), ""},
		{"canceled request, bad input", canceled, refusal.Invalid("jwt: bad"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refusal.CallerGone(tc.ctx, tc.err)
			if tc.want == "" {
				if !errors.Is(err, tc.err) {
					t.Fatalf("%v became %v", tc.err, err)
				}
				return
			}
			if kind, _ := refusal.ClassifyFault(err); kind != tc.want {
				t.Fatalf("kind %s, want %s", kind, tc.want)
			}
		})
	}
}
