package kubeauth

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/loginlimit"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// loginLimitField adds login_rate_limit to the role's schema.
func loginLimitField(fields map[string]*framework.FieldSchema) {
	fields["login_rate_limit"] = &framework.FieldSchema{
		Type: framework.TypeString,
		Description: `How often one workload may log in with this role, as "<count>/<period>" with an optional ",burst=<n>" ` +
			`(for example "5/1m" or "5/1m,burst=10"; count and burst 1 to 10000, period 1s to 24h). The workload is the pod ` +
			`for a pod-bound token, else the service account. Over the limit a login is answered HTTP 429 before any ` +
			`TokenReview. Counted per Vault node. Empty (the default) for no limit.`,
	}
}

// applyLoginLimit applies login_rate_limit as a write sends it: a valid
// limit is stored as sent, "" clears it, and an unsent field is kept.
func applyLoginLimit(r *roleEntry, d *framework.FieldData) error {
	v, ok := d.GetOk("login_rate_limit")
	if !ok {
		return nil
	}
	s := v.(string)
	if s != "" {
		if _, err := loginlimit.Parse(s); err != nil {
			return fmt.Errorf("login_rate_limit: %w", err)
		}
	}
	r.LoginRateLimit = s
	r.limit = parseLimit(s)
	return nil
}

// parsedLimit is a role's login_rate_limit as logins use it.
type parsedLimit struct {
	limit loginlimit.Limit
	on    bool
	err   error
}

// parseLimit reads a stored login_rate_limit; "" is no limit.
func parseLimit(s string) parsedLimit {
	if s == "" {
		return parsedLimit{}
	}
	l, err := loginlimit.Parse(s)
	if err != nil {
		return parsedLimit{err: fmt.Errorf("stored role is invalid: login_rate_limit: %w", err)}
	}
	return parsedLimit{limit: l, on: true}
}

// loginLimitReadData adds login_rate_limit to a read when it is set; a
// role without it reads exactly as before.
func (r *roleEntry) loginLimitReadData(data map[string]any) {
	if r.LoginRateLimit != "" {
		data["login_rate_limit"] = r.LoginRateLimit
	}
}

// loginLimit is the role's limit; on is false when it has none. A stored
// limit that no longer parses is a fault, never a login let through.
func (r *roleEntry) loginLimit() (l loginlimit.Limit, on bool, err error) {
	return r.limit.limit, r.limit.on, r.limit.err
}

// loginLimitKey is the attempt's bucket: the role (by its stored name), the
// cluster and the workload, which is the pod when the token is bound to
// one, else the service account, each with its UID so a recreated one
// starts afresh. It reads the claims: before the review they are only
// claimed, and a bucket is only ever peeked at with them; after it, they
// are what Kubernetes vouched for (a token it vouches for is one it signed,
// claims and all), so the take uses the same key as the peek.
func loginLimitKey(a *attempt) loginlimit.Key {
	c := a.claimed
	workload := "serviceaccount " + c.Namespace + "/" + c.Name + " " + c.UID
	if c.PodName != "" {
		workload = "pod " + c.Namespace + "/" + c.PodName + " " + c.PodUID
	}
	return loginlimit.Key{Role: strings.ToLower(a.roleName), Cluster: a.cluster, Workload: workload}
}

// stepLoginRateLimit refuses, before the TokenReview, a login whose claimed
// workload has an empty bucket. It only peeks: a forged token (which has
// not been verified yet) neither creates a bucket nor takes from a real
// workload's, so a flood of them costs no memory and harms nobody; at
// worst it is refused as its claimed workload would be.
func (b *backend) stepLoginRateLimit(_ context.Context, a *attempt) error {
	l, on, err := a.role.loginLimit()
	if !on {
		return err
	}
	k := loginLimitKey(a)
	if s := b.loginLimits.Peek(k, l, b.now()); s.Limited() {
		return rateLimited(k, l, s)
	}
	return nil
}

// takeLoginLimit takes a token from the workload's bucket, creating it,
// once the login has passed every step: only verified workloads have
// buckets. Concurrent logins may all have passed the peek; the take
// decides.
func (b *backend) takeLoginLimit(a *attempt) error {
	l, on, err := a.role.loginLimit()
	if !on {
		return err
	}
	k := loginLimitKey(a)
	if ok, s := b.loginLimits.Take(k, l, b.now()); !ok {
		return rateLimited(k, l, s)
	}
	return nil
}

func rateLimited(k loginlimit.Key, l loginlimit.Limit, s loginlimit.State) error {
	return refusal.Limited(l.RetryAfter(s.Tokens), "%s has logged in more often than login_rate_limit %q allows on this Vault node",
		k.Workload, l.String())
}

// explainLoginRateLimit says what the workload's bucket holds, without
// taking from it (explain never takes; see takeLoginLimit).
func (b *backend) explainLoginRateLimit(a *attempt) (outcome, detail string) {
	l, on, _ := a.role.loginLimit()
	if !on {
		return outcomeSkipped, "the role has no login_rate_limit"
	}
	k := loginLimitKey(a)
	s := b.loginLimits.Peek(k, l, b.now())
	if !s.Exists {
		return outcomePassed, fmt.Sprintf("login_rate_limit %q: %s has no bucket on this Vault node yet; its first login that passes creates it with %d logins",
			l.String(), k.Workload, l.Burst)
	}
	return outcomePassed, fmt.Sprintf("login_rate_limit %q: %s has %.2f of %d logins left on this Vault node", l.String(), k.Workload, s.Tokens, l.Burst)
}
