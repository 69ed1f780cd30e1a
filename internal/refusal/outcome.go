package refusal

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/logcut"
)

// A Class is how a login (or a renewal, or an explained login) ended.
type Class int

const (
	// Passed: no error.
	Passed Class = iota
	// Refused: authentication failed (HTTP 403); Code is the reason code.
	Refused
	// Malformed: the request was malformed (HTTP 400); Detail is the message,
	// which names the field.
	Malformed
	// Faulted: the setup or Kubernetes failed (a generic error to the
	// caller, the details in the log); Code is the fault kind.
	Faulted
)

// Outcome is an error read once for everything that answers, counts and
// logs it.
type Outcome struct {
	Class Class
	// Code is the reason code of a refusal or the kind of a fault.
	Code string
	// Detail is the refusal's detail, the bad input's message or the
	// fault's error text, uncut.
	Detail string
	// RetryAfter is a rate_limited refusal's: when to log in again.
	RetryAfter time.Duration
	// public is what an unauthenticated caller is told of a fault.
	public error
}

// Classify reads err: nil passed, a *Refusal was refused, an *InputError
// malformed, anything else a fault of the kind ClassifyFault names.
func Classify(err error) Outcome {
	var ref *Refusal
	var bad *InputError
	switch {
	case err == nil:
		return Outcome{Class: Passed}
	case errors.As(err, &ref):
		return Outcome{Class: Refused, Code: ref.Reason, Detail: ref.Detail, RetryAfter: ref.RetryAfter}
	case errors.As(err, &bad):
		return Outcome{Class: Malformed, Detail: bad.Msg}
	default:
		kind, public := ClassifyFault(err)
		return Outcome{Class: Faulted, Code: kind, Detail: err.Error(), public: public}
	}
}

// Answer is what the unauthenticated caller gets: 403 "permission denied"
// for a refusal (429 for rate_limited), a 400 naming the field for bad
// input, and for a fault the generic error of its kind. Nothing of the setup
// is in any of them.
func (o Outcome) Answer() (*logical.Response, error) {
	switch o.Class {
	case Refused:
		if o.Code == ReasonRateLimited {
			return rateLimitedAnswer(o.RetryAfter)
		}
		return nil, logical.ErrPermissionDenied
	case Malformed:
		return logical.ErrorResponse(o.Detail), nil
	case Faulted:
		return nil, o.public
	}
	return nil, nil
}

// LogFields are the outcome's fields of a log line, cut: "reason" and
// "detail" for a refusal, "kind" and "error" for a fault.
func (o Outcome) LogFields() []any {
	switch o.Class {
	case Refused:
		return []any{"reason", o.Code, "detail", logcut.Detail(o.Detail)}
	case Faulted:
		return []any{"kind", o.Code, "error", logcut.String(o.Detail, logcut.ErrorMax)}
	}
	return nil
}

// RetryAfterHeader is the header a rate_limited answer carries. Vault
// passes a plugin's response headers on only when the mount lists them in
// allowed_response_headers; the message says the same for callers of a
// mount that does not.
const RetryAfterHeader = "Retry-After"

// rateLimitedAnswer is HTTP 429 with a Retry-After in whole seconds (at
// least one). The error is coded so that its status crosses the plugin's
// gRPC boundary; the response only carries the header.
func rateLimitedAnswer(retryAfter time.Duration) (*logical.Response, error) {
	secs := int64(math.Ceil(retryAfter.Seconds()))
	secs = max(secs, 1)
	resp := &logical.Response{Headers: map[string][]string{RetryAfterHeader: {strconv.FormatInt(secs, 10)}}}
	msg := fmt.Sprintf("login rate limited: this workload logs in too often; retry in %d seconds", secs)
	return resp, logical.CodedError(http.StatusTooManyRequests, msg)
}
