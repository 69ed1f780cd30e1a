package refusal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// Whatever a login's error is, the unauthenticated caller's answer is one
// of three shapes and never carries the setup's details: a refusal is a
// bare 403, bad input a 400 with its own message, a fault a fixed sentence
// of its kind. The log fields are the other side: they name the reason or
// kind, and the detail or error, cut.
func TestOutcomeAnswersTellNothingOfTheSetup(t *testing.T) {
	secret := "https://10.1.2.3:6443 x509: certificate signed by unknown authority; reviewer vault:rev"
	cases := []struct {
		err   error
		class Class
		code  string
	}{
		{New(ReasonReviewRejected, "TokenReview: %s", secret), Refused, ReasonReviewRejected},
		{fmt.Errorf("wrapped: %w", New(ReasonPodNotBound, "%s", secret)), Refused, ReasonPodNotBound},
		{Invalid("jwt: is required"), Malformed, ""},
		{&kube.APIError{Timeout: time.Second, Err: errors.New(secret)}, Faulted, FaultKubeTimeout},
		{&kube.APIError{TLS: true, Err: errors.New(secret)}, Faulted, FaultKubeTLS},
		{&kube.APIError{Status: http.StatusForbidden, Err: errors.New(secret)}, Faulted, FaultKubeForbidden},
		{&kube.APIError{Status: http.StatusBadGateway, Err: errors.New(secret)}, Faulted, FaultKubeStatus},
		{&kube.APIError{Err: errors.New(secret)}, Faulted, FaultKubeUnreachable},
		{fmt.Errorf("storage: %w", errors.New(secret)), Faulted, FaultInternal},
		{ErrNotConfigured, Faulted, FaultNotConfigured},
		{callerGoneFor(errors.New(secret)), Faulted, FaultCanceled},
	}
	for _, tc := range cases {
		o := Classify(tc.err)
		if o.Class != tc.class || o.Code != tc.code {
			t.Errorf("%v: class %d code %q, want %d %q", tc.err, o.Class, o.Code, tc.class, tc.code)
		}
		resp, err := o.Answer()
		switch tc.class {
		case Refused:
			if resp != nil || !errors.Is(err, logical.ErrPermissionDenied) {
				t.Errorf("%v: answered %v %v, want a bare 403", tc.err, resp, err)
			}
		case Malformed:
			if err != nil || resp == nil || !resp.IsError() || resp.Data["error"] != "jwt: is required" {
				t.Errorf("%v: answered %v %v, want a 400 with its message", tc.err, resp, err)
			}
		case Faulted:
			if resp != nil || err == nil || strings.Contains(err.Error(), "10.1.2.3") || strings.Contains(err.Error(), "x509") {
				t.Errorf("%v: answered %v %v, want a generic error", tc.err, resp, err)
			}
		}
		fields := fmt.Sprint(o.LogFields()...)
		detailed := strings.Contains(tc.err.Error(), "10.1.2.3")
		if tc.class != Malformed && (!strings.Contains(fields, tc.code) || detailed && !strings.Contains(fields, "10.1.2.3")) {
			t.Errorf("%v: log fields %q do not name %s and the detail", tc.err, fields, tc.code)
		}
	}
	if o := Classify(nil); o.Class != Passed {
		t.Errorf("nil: class %d", o.Class)
	}
}

// callerGoneFor is err as a login whose caller went away sees it.
func callerGoneFor(err error) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return CallerGone(ctx, err)
}

// A rate_limited refusal is answered 429 with a Retry-After of whole
// seconds, at least one, and a message that says only when to retry.
func TestRateLimitedAnswer(t *testing.T) {
	for _, tc := range []struct {
		after time.Duration
		want  string
	}{
		{0, "1"}, {time.Millisecond, "1"}, {time.Second, "1"}, {1500 * time.Millisecond, "2"}, {12 * time.Second, "12"},
	} {
		o := Classify(fmt.Errorf("wrapped: %w", Limited(tc.after, "workload pod:ns/p/uid over 5/1m")))
		if o.Class != Refused || o.Code != ReasonRateLimited {
			t.Fatalf("Classify = %+v, want a rate_limited refusal", o)
		}
		resp, err := o.Answer()
		var coded logical.HTTPCodedError
		if !errors.As(err, &coded) || coded.Code() != http.StatusTooManyRequests {
			t.Fatalf("after %v: Answer error = %v, want a coded 429", tc.after, err)
		}
		if got := resp.Headers[RetryAfterHeader]; len(got) != 1 || got[0] != tc.want {
			t.Errorf("after %v: Retry-After = %q, want %q", tc.after, got, tc.want)
		}
		if strings.Contains(err.Error(), "5/1m") || strings.Contains(err.Error(), "pod:") || !strings.Contains(err.Error(), "retry in "+tc.want+" seconds") {
			t.Errorf("after %v: the caller is told %q", tc.after, err)
		}
	}
}
