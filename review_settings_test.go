package kubeauth

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// A role that does not use the review fields stores and reads none of them,
// exactly as Vault's method; one that does stores what it sent and reads the
// settings in force.
func TestReviewFieldsStoredOnlyWhenUsed(t *testing.T) {
	e := newTestEnv(t)
	e.writeRole(testRole, nil)
	raw := e.rawEntry("role/" + testRole)
	for _, k := range []string{"review_mode", "review_cache_ttl", "local_max_token_age"} {
		if _, ok := raw[k]; ok {
			t.Errorf("a role without review settings stores %s", k)
		}
	}
	data := readJSON(t, e, "role/"+testRole)
	for _, k := range []string{"review_mode", "review_cache_ttl", "local_max_token_age"} {
		if _, ok := data[k]; ok {
			t.Errorf("a role without review settings reads %s", k)
		}
	}

	e.writeRole(testRole, map[string]any{"review_mode": "cached", "review_cache_ttl": "30s"})
	raw = e.rawEntry("role/" + testRole)
	if raw["review_mode"] != "cached" || raw["review_cache_ttl"] != json.Number("30000000000") {
		t.Fatalf("stored review_mode %v, review_cache_ttl %v", raw["review_mode"], raw["review_cache_ttl"])
	}
	if _, ok := raw["local_max_token_age"]; ok {
		t.Error("local_max_token_age stored though not sent")
	}
	data = readJSON(t, e, "role/"+testRole)
	if data["review_mode"] != "cached" || data["review_cache_ttl"] != float64(30) || data["local_max_token_age"] != float64(600) {
		t.Fatalf("read %v / %v / %v, want cached / 30 / 600 (the default)", data["review_mode"], data["review_cache_ttl"], data["local_max_token_age"])
	}

	// An update that does not send them keeps them; seconds work too.
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"token_ttl": "5m"})
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"review_mode": "hybrid", "local_max_token_age": 120})
	data = readJSON(t, e, "role/"+testRole)
	if data["review_mode"] != "hybrid" || data["review_cache_ttl"] != float64(30) || data["local_max_token_age"] != float64(120) {
		t.Fatalf("after updates: %v / %v / %v, want hybrid / 30 / 120", data["review_mode"], data["review_cache_ttl"], data["local_max_token_age"])
	}
}

func TestReviewFieldsRefused(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"unknown mode", map[string]any{"review_mode": "sometimes"}, `review_mode: "sometimes" is not one of`},
		{"mode in capitals", map[string]any{"review_mode": "Cached"}, `review_mode: "Cached" is not one of`},
		{"zero TTL", map[string]any{"review_mode": "cached", "review_cache_ttl": 0}, "review_cache_ttl: 0s is out of range"},
		{"sub-second TTL", map[string]any{"review_mode": "cached", "review_cache_ttl": "500ms"}, "review_cache_ttl: 0s is out of range"},
		{"TTL over 5m", map[string]any{"review_mode": "cached", "review_cache_ttl": "301s"}, "review_cache_ttl: 5m1s is out of range; send a duration from 1s to 5m0s"},
		{"negative TTL", map[string]any{"review_mode": "cached", "review_cache_ttl": "-5s"}, "review_cache_ttl"},
		{"zero age", map[string]any{"review_mode": "hybrid", "local_max_token_age": "0s"}, "local_max_token_age: 0s is out of range"},
		{"age over 1h", map[string]any{"review_mode": "hybrid", "local_max_token_age": "2h"}, "local_max_token_age: 2h0m0s is out of range; send a duration from 1s to 1h0m0s"},
		{"hybrid without audience", map[string]any{"review_mode": "hybrid", "audience": nil}, `review_mode: "hybrid" needs audience`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			data := roleData()
			for k, v := range tc.fields {
				if v == nil {
					delete(data, k)
					continue
				}
				data[k] = v
			}
			resp, err := e.do(logical.UpdateOperation, "role/"+testRole, data)
			requireBadRequest(t, resp, err, tc.want)
			if e.rawEntry("role/"+testRole) != nil {
				t.Fatal("a refused write stored the role")
			}
		})
	}
}

// Clearing the audience of a hybrid role is refused too, and changes
// nothing; switching the mode away first allows it.
func TestHybridKeepsItsAudience(t *testing.T) {
	e := newTestEnv(t)
	e.writeRole(testRole, map[string]any{"review_mode": "hybrid"})
	resp, err := e.do(logical.UpdateOperation, "role/"+testRole, map[string]any{"audience": ""})
	requireBadRequest(t, resp, err, "audience")
	requireBadRequest(t, resp, err, "review_mode")
	if got := e.rawEntry("role/" + testRole)["audience"]; got != "vault" {
		t.Fatalf("audience stored as %v after a refused update", got)
	}
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"audience": "", "review_mode": "cached"})
}

func TestReviewFieldWarnings(t *testing.T) {
	e := newTestEnv(t)
	resp := e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{
		"bound_service_account_names": testkit.SAName, "bound_service_account_namespaces": testkit.Namespace,
		"audience": "vault", "review_cache_ttl": "20s", "local_max_token_age": "5m",
	})
	if resp == nil || len(resp.Warnings) != 2 {
		t.Fatalf("want warnings for both settings without effect, got %#v", resp)
	}
	if resp := e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"review_mode": "hybrid"}); resp != nil {
		t.Fatalf("want no warning once both take effect, got %v", resp.Warnings)
	}
}

// A stored value out of bounds (written to storage some other way) is held
// to the bounds; an unknown mode reviews every login.
func TestStoredReviewSettingsInForce(t *testing.T) {
	for _, tc := range []struct {
		stored        reviewSettings
		mode          string
		ttl, tokenAge time.Duration
	}{
		{reviewSettings{}, reviewAlways, 10 * time.Second, 10 * time.Minute},
		{reviewSettings{ReviewMode: "bogus", ReviewCacheTTL: -time.Second, LocalMaxTokenAge: -1}, reviewAlways, 10 * time.Second, 10 * time.Minute},
		{reviewSettings{ReviewMode: reviewHybrid, ReviewCacheTTL: time.Hour, LocalMaxTokenAge: 24 * time.Hour}, reviewHybrid, 5 * time.Minute, time.Hour},
		{reviewSettings{ReviewMode: reviewCached, ReviewCacheTTL: 3 * time.Second, LocalMaxTokenAge: time.Minute}, reviewCached, 3 * time.Second, time.Minute},
	} {
		if got := tc.stored.mode(); got != tc.mode {
			t.Errorf("%+v: mode %q, want %q", tc.stored, got, tc.mode)
		}
		if got := tc.stored.cacheTTL(); got != tc.ttl {
			t.Errorf("%+v: cacheTTL %v, want %v", tc.stored, got, tc.ttl)
		}
		if got := tc.stored.maxTokenAge(); got != tc.tokenAge {
			t.Errorf("%+v: maxTokenAge %v, want %v", tc.stored, got, tc.tokenAge)
		}
	}
}
