package soak

import (
	"testing"
	"time"
)

func TestExpected(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	s := func(n int) time.Duration { return time.Duration(n) * time.Second }
	fresh := func(at time.Time) TokenFacts {
		return TokenFacts{Fits: true, Key: 0, IssuedAt: at, NotBefore: at, Expiry: at.Add(time.Hour)}
	}
	skewed := func(by time.Duration) TokenFacts { return fresh(t0.Add(by)) }
	expiredBy := func(by time.Duration) TokenFacts {
		tok := fresh(t0.Add(-time.Hour - by))
		return tok
	}
	always := RoleModel{Mode: ModeAlways}
	cached := RoleModel{Mode: ModeCached, ReviewCacheTTL: s(10)}
	hybrid := RoleModel{Mode: ModeHybrid, LocalMaxAge: 2 * time.Minute}

	steady := map[int]KeyState{0: {AllVerify: t0.Add(-time.Hour)}}
	// Key 0 being removed since t0-5s, removed at t0; key 1 verified by all.
	removed := map[int]KeyState{
		0: {AllVerify: t0.Add(-time.Hour), RetireStart: t0.Add(-s(5)), Retired: t0},
		1: {AllVerify: t0.Add(-time.Minute)},
	}
	removing := map[int]KeyState{0: {AllVerify: t0.Add(-time.Hour), RetireStart: t0.Add(-s(5))}}
	arriving := map[int]KeyState{0: {}}

	cases := []struct {
		name string
		tok  TokenFacts
		role RoleModel
		keys map[int]KeyState
		now  time.Time
		want Expect
	}{
		{"good token", fresh(t0.Add(-time.Minute)), always, steady, t0, ExpectPass},
		{"not fitting the role", TokenFacts{Fits: false, Key: 0, IssuedAt: t0, NotBefore: t0, Expiry: t0.Add(time.Hour)}, always, steady, t0, ExpectRefuse},
		{"forged", TokenFacts{Fits: true, Key: NoKey, IssuedAt: t0, NotBefore: t0, Expiry: t0.Add(time.Hour)}, hybrid, steady, t0, ExpectRefuse},
		{"unknown generation", TokenFacts{Fits: true, Key: 7, IssuedAt: t0, NotBefore: t0, Expiry: t0.Add(time.Hour)}, always, steady, t0, ExpectRefuse},
		{"not fitting beats a removed key's window", TokenFacts{Fits: false, Key: 0, IssuedAt: t0, NotBefore: t0, Expiry: t0.Add(time.Hour)}, hybrid, removed, t0, ExpectRefuse},

		{"5 s ahead", skewed(s(5)), always, steady, t0, ExpectPass},
		{"30 s ahead", skewed(s(30)), hybrid, steady, t0, ExpectPass},
		{"30 s behind", skewed(-s(30)), cached, steady, t0, ExpectPass},
		{"49 s ahead", skewed(s(49)), always, steady, t0, ExpectPass},
		{"55 s ahead: the edge", skewed(s(55)), always, steady, t0, ExpectEither},
		{"65 s ahead: the edge", skewed(s(65)), always, steady, t0, ExpectEither},
		{"71 s ahead", skewed(s(71)), always, steady, t0, ExpectRefuse},
		{"2 min ahead", skewed(2 * time.Minute), hybrid, steady, t0, ExpectRefuse},
		{"iat ahead, nbf not", TokenFacts{Fits: true, Key: 0, IssuedAt: t0.Add(2 * time.Minute), NotBefore: t0, Expiry: t0.Add(time.Hour)}, always, steady, t0, ExpectRefuse},
		{"expired 5 s ago", expiredBy(s(5)), always, steady, t0, ExpectPass},
		{"expired 45 s ago", expiredBy(s(45)), hybrid, steady, t0, ExpectPass},
		{"expired 60 s ago: the edge", expiredBy(s(60)), always, steady, t0, ExpectEither},
		{"expired 71 s ago", expiredBy(s(71)), always, steady, t0, ExpectRefuse},
		{"expired 2 min ago", expiredBy(2 * time.Minute), cached, steady, t0, ExpectRefuse},
		{"expired and forged", TokenFacts{Fits: true, Key: NoKey, Expiry: t0.Add(-time.Hour)}, always, steady, t0, ExpectRefuse},
		{"expired on a removed key", expiredBy(2 * time.Minute), hybrid, removed, t0, ExpectRefuse},

		{"key not yet verified by all", fresh(t0), always, arriving, t0, ExpectEither},
		{"key verified by all from later", fresh(t0), always, map[int]KeyState{0: {AllVerify: t0.Add(s(1))}}, t0, ExpectEither},
		{"before its removal starts", fresh(t0.Add(-time.Minute)), always, map[int]KeyState{0: {AllVerify: t0.Add(-time.Hour), RetireStart: t0.Add(s(1))}}, t0, ExpectPass},
		{"key being removed", fresh(t0.Add(-time.Minute)), always, removing, t0, ExpectEither},
		{"new key after the old one went", TokenFacts{Fits: true, Key: 1, IssuedAt: t0, NotBefore: t0, Expiry: t0.Add(time.Hour)}, hybrid, removed, t0.Add(s(1)), ExpectPass},

		{"always: removed key within the API server's cache", fresh(t0.Add(-time.Minute)), always, removed, t0.Add(s(14)), ExpectEither},
		{"always: removed key after it", fresh(t0.Add(-time.Minute)), always, removed, t0.Add(s(16)), ExpectRefuse},
		{"cached: removed key within the review cache", fresh(t0.Add(-time.Minute)), cached, removed, t0.Add(s(24)), ExpectEither},
		{"cached: removed key after it", fresh(t0.Add(-time.Minute)), cached, removed, t0.Add(s(26)), ExpectRefuse},
		{"hybrid: young token, removed key, before refresh or age", fresh(t0.Add(-s(30))), hybrid, removed, t0.Add(s(100)), ExpectEither},
		{"hybrid: young token once it is old enough to be reviewed", fresh(t0.Add(-s(30))), hybrid, removed, t0.Add(s(90 + 16)), ExpectRefuse},
		{"hybrid: token already past local_max_token_age", fresh(t0.Add(-10 * time.Minute)), hybrid, removed, t0.Add(s(16)), ExpectRefuse},
		{"hybrid: token past local_max_token_age, within the API server's cache", fresh(t0.Add(-10 * time.Minute)), hybrid, removed, t0.Add(s(14)), ExpectEither},
		{"hybrid: a long local age ends with the key refresh", fresh(t0.Add(-s(1))), RoleModel{Mode: ModeHybrid, LocalMaxAge: time.Hour}, removed, t0.Add(5*time.Minute + s(44)), ExpectEither},
		{"hybrid: a long local age after the key refresh", fresh(t0.Add(-s(1))), RoleModel{Mode: ModeHybrid, LocalMaxAge: time.Hour}, removed, t0.Add(5*time.Minute + s(46)), ExpectRefuse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := Expected(tc.tok, tc.role, tc.keys, tc.now)
			if got != tc.want {
				t.Fatalf("Expected = %v (%s), want %v", got, why, tc.want)
			}
			if why == "" {
				t.Fatal("no reason given")
			}
		})
	}
}
