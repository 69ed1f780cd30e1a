package soak

import "time"

// Expect is the answer a login must get.
type Expect int

const (
	ExpectPass   Expect = iota // a Vault token; a refusal (403/400) is a wrong answer
	ExpectRefuse               // a refusal; a Vault token is a wrong answer
	ExpectEither               // at a fault's edge either answer is right
)

func (e Expect) String() string {
	return [...]string{"pass", "refuse", "either"}[e]
}

// Mode is a role's review_mode, as far as the oracle needs it.
type Mode string

const (
	ModeAlways Mode = "always"
	ModeCached Mode = "cached"
	ModeHybrid Mode = "hybrid"
)

// RoleModel is what of a role decides how long a removed key's tokens may
// still pass.
type RoleModel struct {
	Mode           Mode
	ReviewCacheTTL time.Duration // review_cache_ttl (cached mode)
	LocalMaxAge    time.Duration // local_max_token_age (hybrid mode)
}

// TokenFacts are what the soak knows of a token when it sends it.
type TokenFacts struct {
	// Fits is whether the token's claims fit the role: its service account,
	// namespace, pod, audience and cluster are ones the role binds. A token
	// that does not fit is refused whatever the keys and clocks.
	Fits bool
	// Key is the generation of the cluster's signing key that signed it;
	// NoKey when the cluster never had that key (a forged token).
	Key                         int
	IssuedAt, NotBefore, Expiry time.Time
}

// NoKey marks a token signed with a key the cluster never held.
const NoKey = -1

// KeyState is one generation of a cluster's signing keys as the soak moved
// it: from AllVerify every API server accepts it; from RetireStart the soak
// began removing it from them, and from Retired no API server accepts it.
// Zero times are "not yet".
type KeyState struct {
	AllVerify   time.Time
	RetireStart time.Time
	Retired     time.Time
}

// The windows the oracle allows, stated in the report.
const (
	// ClockSkew is the allowance both the API server and the plugin give
	// exp, nbf and iat; TimeMargin on either side of it is either way (the
	// request's own latency, and Vault's and the soak's clocks reading a
	// moment apart).
	ClockSkew  = 60 * time.Second
	TimeMargin = 10 * time.Second
	// APIServerAuthCache is how long the API server keeps a token it
	// authenticated (no flag changes it); ReviewMargin is added to every
	// review window for the request's latency.
	APIServerAuthCache = 10 * time.Second
	ReviewMargin       = 5 * time.Second
	// KeyRefresh is how often the plugin refreshes its copy of a cluster's
	// keys in hybrid mode: a dropped key keeps verifying until then.
	KeyRefresh = 5 * time.Minute
	// KeyRefreshMargin covers the refresh's own timing.
	KeyRefreshMargin = 30 * time.Second
)

// Expected is the answer a login with tok on a role like role must get at
// now, given the cluster's key generations, and why.
func Expected(tok TokenFacts, role RoleModel, keys map[int]KeyState, now time.Time) (Expect, string) {
	if !tok.Fits {
		return ExpectRefuse, "the claims do not fit the role"
	}
	if tok.Key == NoKey {
		return ExpectRefuse, "signed with a key the cluster never had"
	}
	if e, why := expectByTime(tok, now); e != ExpectPass {
		return e, why
	}
	k, ok := keys[tok.Key]
	if !ok {
		return ExpectRefuse, "signed with a key the cluster never had"
	}
	return expectByKey(tok, role, k, now)
}

// expectByTime applies exp, nbf and iat with the skew allowance, either way
// within TimeMargin of its edge.
func expectByTime(tok TokenFacts, now time.Time) (Expect, string) {
	late := now.Sub(tok.Expiry)
	early := max(tok.NotBefore.Sub(now), tok.IssuedAt.Sub(now))
	switch {
	case late > ClockSkew+TimeMargin:
		return ExpectRefuse, "expired beyond the clock-skew allowance"
	case early > ClockSkew+TimeMargin:
		return ExpectRefuse, "not yet valid beyond the clock-skew allowance"
	case late > ClockSkew-TimeMargin:
		return ExpectEither, "expired at the edge of the clock-skew allowance"
	case early > ClockSkew-TimeMargin:
		return ExpectEither, "not yet valid at the edge of the clock-skew allowance"
	}
	return ExpectPass, "valid"
}

// expectByKey applies the key's state: a key not yet accepted by every API
// server, or being removed, is either way until no answer about it can
// still come from a cache.
func expectByKey(tok TokenFacts, role RoleModel, k KeyState, now time.Time) (Expect, string) {
	if k.AllVerify.IsZero() || now.Before(k.AllVerify) {
		return ExpectEither, "signed with a key not every API server accepts yet"
	}
	if k.RetireStart.IsZero() || now.Before(k.RetireStart) {
		return ExpectPass, "valid"
	}
	if k.Retired.IsZero() {
		return ExpectEither, "signed with a key being removed"
	}
	if now.Before(k.Retired.Add(retiredKeyWindow(tok, role, k.Retired))) {
		return ExpectEither, "signed with a removed key still in a cache"
	}
	return ExpectRefuse, "signed with a removed key"
}

// retiredKeyWindow is how long after its key was removed a token may still
// pass on the role: the API server's own cache of the token and the role's
// review cache; in hybrid mode, a token young enough to be verified locally
// passes until the plugin's copy of the keys is refreshed, or until it is
// old enough to be reviewed.
func retiredKeyWindow(tok TokenFacts, role RoleModel, retired time.Time) time.Duration {
	review := APIServerAuthCache + role.ReviewCacheTTL + ReviewMargin
	if role.Mode != ModeHybrid {
		return review
	}
	reviewedFrom := tok.IssuedAt.Add(role.LocalMaxAge).Sub(retired) // when it stops being verified locally
	return min(KeyRefresh+KeyRefreshMargin, max(reviewedFrom, 0)) + review
}
