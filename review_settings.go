package kubeauth

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
)

// Values of review_mode: how a login's token is verified.
const (
	// reviewAlways reviews every login (Vault's method does; the default).
	reviewAlways = "always"
	// reviewCached reuses a successful TokenReview of the same JWT for the
	// same audiences for review_cache_ttl.
	reviewCached = "cached"
	// reviewHybrid verifies a young bound token locally against the
	// cluster's keys, and reviews every other token as reviewCached does.
	reviewHybrid = "hybrid"
	// reviewLocal verifies every token against the cluster's keys and
	// reviews none: a token the keys cannot vouch for is refused (see
	// review_local.go).
	reviewLocal = "local"
)

// Defaults and bounds of the review settings.
const (
	defaultReviewCacheTTL = 10 * time.Second
	maxReviewCacheTTL     = 5 * time.Minute
	// defaultLocalMaxTokenAge and maxLocalMaxTokenAge bound how long a
	// deleted service account or pod can go unnoticed in hybrid mode. An
	// hour is the default lifetime of the tokens the kubelet projects into
	// pods, past which they are rotated anyway.
	defaultLocalMaxTokenAge = 10 * time.Minute
	maxLocalMaxTokenAge     = time.Hour
)

// reviewSettings are the role fields that choose how tokens are verified.
// Vault's built-in method has none of them; they are stored only when set,
// so a role that does not use them is stored byte for byte as that method
// stores it, and a switch back to it ignores them (it reviews every login).
type reviewSettings struct {
	ReviewMode       string        `json:"review_mode,omitempty"`
	ReviewCacheTTL   time.Duration `json:"review_cache_ttl,omitempty"`
	LocalMaxTokenAge time.Duration `json:"local_max_token_age,omitempty"`
}

// mode is the review mode in force: always, unless the role says cached,
// hybrid or local (a value that reached storage some other way reviews
// every login).
func (s *reviewSettings) mode() string {
	switch s.ReviewMode {
	case reviewCached, reviewHybrid, reviewLocal:
		return s.ReviewMode
	}
	return reviewAlways
}

// cacheTTL and maxTokenAge are the settings in force: the default when
// unset, and never over the bound, also for a value that reached storage
// without a write through this plugin.
func (s *reviewSettings) cacheTTL() time.Duration {
	return inForce(s.ReviewCacheTTL, defaultReviewCacheTTL, maxReviewCacheTTL)
}

func (s *reviewSettings) maxTokenAge() time.Duration {
	return inForce(s.LocalMaxTokenAge, defaultLocalMaxTokenAge, maxLocalMaxTokenAge)
}

func inForce(v, def, bound time.Duration) time.Duration {
	switch {
	case v <= 0:
		return def
	case v > bound:
		return bound
	}
	return v
}

// used says whether the role sets any of the fields.
func (s *reviewSettings) used() bool { return *s != reviewSettings{} }

func reviewFieldSchemas(fields map[string]*framework.FieldSchema) {
	fields["review_mode"] = &framework.FieldSchema{
		Type:    framework.TypeString,
		Default: reviewAlways,
		Description: `How tokens are verified: "always" (a TokenReview per login, the default), "cached" (a successful ` +
			`TokenReview of the same token is reused for review_cache_ttl), or "hybrid" (young bound tokens are verified ` +
			`locally against the cluster's signing keys, others as "cached"; requires audience), or "local" (every token ` +
			`is verified against the cluster's signing keys and none is reviewed; requires audience and local_max_token_age).`,
		AllowedValues: []interface{}{reviewAlways, reviewCached, reviewHybrid, reviewLocal},
		DisplayAttrs:  &framework.DisplayAttributes{Name: "Review Mode"},
	}
	fields["review_cache_ttl"] = &framework.FieldSchema{
		Type:    framework.TypeDurationSecond,
		Default: int(defaultReviewCacheTTL.Seconds()),
		Description: "In cached, hybrid and local modes, how long a successful TokenReview is reused (never past the token's exp) " +
			"and how long a namespace's labels are kept for the selector. At most 5m.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "Review Cache TTL"},
	}
	fields["local_max_token_age"] = &framework.FieldSchema{
		Type:    framework.TypeDurationSecond,
		Default: int(defaultLocalMaxTokenAge.Seconds()),
		Description: "In hybrid mode, the age (since iat) up to which a bound token is verified locally, without a TokenReview; " +
			"in local mode (where it is required), the age past which a token is refused. " +
			"A deleted service account or pod goes unnoticed for at most this long. At most 1h.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "Local Max Token Age"},
	}
}

// applyReviewFields copies the review fields a request sent onto s.
func applyReviewFields(s *reviewSettings, d *framework.FieldData) error {
	if v, ok := d.GetOk("review_mode"); ok {
		mode := v.(string)
		switch mode {
		case reviewAlways, reviewCached, reviewHybrid, reviewLocal:
		default:
			return fmt.Errorf("review_mode: %q is not one of %q, %q, %q, %q", mode, reviewAlways, reviewCached, reviewHybrid, reviewLocal)
		}
		s.ReviewMode = mode
	}
	if v, ok := d.GetOk("review_cache_ttl"); ok {
		ttl := time.Duration(v.(int)) * time.Second
		if ttl <= 0 || ttl > maxReviewCacheTTL {
			return fmt.Errorf("review_cache_ttl: %s is out of range; send a duration from 1s to %s", ttl, maxReviewCacheTTL)
		}
		s.ReviewCacheTTL = ttl
	}
	if v, ok := d.GetOk("local_max_token_age"); ok {
		age := time.Duration(v.(int)) * time.Second
		if age <= 0 || age > maxLocalMaxTokenAge {
			return fmt.Errorf("local_max_token_age: %s is out of range; send a duration from 1s to %s", age, maxLocalMaxTokenAge)
		}
		s.LocalMaxTokenAge = age
	}
	return nil
}

// validateReviewSettings checks the settings against the rest of the role.
// Hybrid mode trusts a token it verified locally only for the audience it
// checked: without one, a token minted for any other service would do.
func validateReviewSettings(s *reviewSettings, audiences []string) error {
	if s.mode() == reviewHybrid && len(audiences) == 0 {
		return errors.New(`review_mode: "hybrid" needs audience: set audience (for example "vault"), or audiences, so a token verified ` +
			`without a TokenReview is one minted for Vault, or use review_mode "cached"`)
	}
	return validateLocalSettings(s, audiences)
}

// reviewWarnings are settings that have no effect in the role's mode.
func reviewWarnings(s *reviewSettings) []string {
	var w []string
	if s.ReviewCacheTTL > 0 && s.mode() == reviewAlways {
		w = append(w, `review_cache_ttl has no effect while review_mode is "always"`)
	}
	if s.LocalMaxTokenAge > 0 && s.mode() != reviewHybrid && s.mode() != reviewLocal {
		w = append(w, `local_max_token_age has no effect unless review_mode is "hybrid" or "local"`)
	}
	return w
}

// reviewReadData adds the settings in force to a role read, only for a
// role that sets any of them: a role that does not reads exactly as Vault's
// method reads it.
func (s *reviewSettings) reviewReadData(data map[string]interface{}) {
	if !s.used() {
		return
	}
	data["review_mode"] = s.mode()
	data["review_cache_ttl"] = int64(s.cacheTTL().Seconds())
	data["local_max_token_age"] = int64(s.maxTokenAge().Seconds())
}
