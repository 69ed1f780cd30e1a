package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-secure-stdlib/parseutil"
	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/vault/sdk/helper/tokenutil"
	"github.com/hashicorp/vault/sdk/logical"
	"k8s.io/apimachinery/pkg/labels"
)

// Values of alias_name_source.
const (
	aliasNameSourceUID  = "serviceaccount_uid"
	aliasNameSourceName = "serviceaccount_name"
)

// roleEntry is a stored role. Its JSON names are those of Vault's built-in
// kubernetes auth method, so either can read what the other wrote.
type roleEntry struct {
	tokenutil.TokenParams

	ServiceAccountNames             []string `json:"bound_service_account_names"`
	ServiceAccountNamespaces        []string `json:"bound_service_account_namespaces"`
	ServiceAccountNamespaceSelector string   `json:"bound_service_account_namespace_selector"`
	Audience                        string   `json:"audience"`
	// Audiences is the plugin's own: any one of them will do (see
	// audiences). Stored only when set.
	Audiences []string `json:"audiences,omitempty"`
	// IncludeTokenID is the plugin's own (role_token_id.go).
	IncludeTokenID bool `json:"include_token_id,omitempty"`
	// LoginRateLimit is the plugin's own (role_login_limit.go), stored as
	// written and only when set.
	LoginRateLimit  string `json:"login_rate_limit,omitempty"`
	AliasNameSource string `json:"alias_name_source"`
	// limit is LoginRateLimit parsed once, by loadRole and
	// applyLoginLimit (see loginLimit), not on every login.
	limit parsedLimit

	legacyRoleFields
	reviewSettings
	podBindings
	workloadMetadata
	clusterBindings

	// namespaceSelector is ServiceAccountNamespaceSelector parsed once, by
	// loadRole (see selector); namespaceSelectorErr is why it did not parse.
	namespaceSelector    labels.Selector
	namespaceSelectorErr error
}

// legacyRoleFields are the pre-tokenutil fields. Roles written by old
// Vault versions carry only these, and Vault's method keeps them, and
// reports them on read, until the token_* name is written. Logins and
// renewals use only the token_* fields (filled from these on load); these
// are kept solely so storage and reads stay what Vault's method has.
type legacyRoleFields struct {
	Policies   []string                      `json:"policies"`
	NumUses    int                           `json:"num_uses"`
	TTL        time.Duration                 `json:"ttl"`
	MaxTTL     time.Duration                 `json:"max_ttl"`
	Period     time.Duration                 `json:"period"`
	BoundCIDRs []*sockaddr.SockAddrMarshaler `json:"BoundCIDRs"`
}

// fillFromLegacy gives each unset token_* field the value of its legacy
// field, as Vault's method does whenever it loads a role.
func (r *roleEntry) fillFromLegacy() {
	l := r.legacyRoleFields
	if len(r.TokenPolicies) == 0 && len(l.Policies) > 0 {
		r.TokenPolicies = l.Policies
	}
	if r.TokenNumUses == 0 && l.NumUses > 0 {
		r.TokenNumUses = l.NumUses
	}
	if r.TokenTTL == 0 && l.TTL > 0 {
		r.TokenTTL = l.TTL
	}
	if r.TokenMaxTTL == 0 && l.MaxTTL > 0 {
		r.TokenMaxTTL = l.MaxTTL
	}
	if r.TokenPeriod == 0 && l.Period > 0 {
		r.TokenPeriod = l.Period
	}
	if len(r.TokenBoundCIDRs) == 0 && len(l.BoundCIDRs) > 0 {
		r.TokenBoundCIDRs = l.BoundCIDRs
	}
}

// legacyReadData is what Vault's method adds to a role read for each legacy
// field still set: policies and bound_cidrs repeat the token_* values, the
// others report the legacy value itself.
func (l *legacyRoleFields) legacyReadData(data map[string]interface{}) {
	if len(l.Policies) > 0 {
		data["policies"] = data["token_policies"]
	}
	if len(l.BoundCIDRs) > 0 {
		data["bound_cidrs"] = data["token_bound_cidrs"]
	}
	if l.TTL > 0 {
		data["ttl"] = int64(l.TTL.Seconds())
	}
	if l.MaxTTL > 0 {
		data["max_ttl"] = int64(l.MaxTTL.Seconds())
	}
	if l.Period > 0 {
		data["period"] = int64(l.Period.Seconds())
	}
	if l.NumUses > 0 {
		data["num_uses"] = l.NumUses
	}
}

func roleKey(name string) string { return rolePrefix + strings.ToLower(name) }

func loadRole(ctx context.Context, s logical.Storage, name string) (*roleEntry, error) {
	entry, err := s.Get(ctx, roleKey(name))
	if err != nil {
		return nil, fmt.Errorf("reading role %q: %w", name, err)
	}
	if entry == nil {
		return nil, nil
	}
	r := &roleEntry{}
	if err := entry.DecodeJSON(r); err != nil {
		return nil, fmt.Errorf("decoding role %q: %w", name, err)
	}
	r.fillFromLegacy()
	r.parseSelector()
	r.parsePodSelector()
	r.limit = parseLimit(r.LoginRateLimit)
	return r, nil
}

// responseData is the read shape of a role: the keys, types and values
// Vault's method returns for the same stored role. Lists read back as
// stored (null when never set), audience only when set, alias_name_source
// as stored ("" for a role older than the field).
func (r *roleEntry) responseData() map[string]interface{} {
	data := map[string]interface{}{
		"bound_service_account_names":              r.ServiceAccountNames,
		"bound_service_account_namespaces":         r.ServiceAccountNamespaces,
		"bound_service_account_namespace_selector": r.ServiceAccountNamespaceSelector,
		"alias_name_source":                        r.AliasNameSource,
	}
	if r.Audience != "" {
		data["audience"] = r.Audience
	}
	if len(r.Audiences) > 0 {
		data["audiences"] = r.Audiences
	}
	r.tokenIDReadData(data)
	r.loginLimitReadData(data)
	r.PopulateTokenData(data)
	r.legacyReadData(data)
	r.reviewReadData(data)
	r.podReadData(data)
	r.workloadReadData(data)
	r.clusterReadData(data)
	return data
}

// validateRole checks a whole role; the message names the field at fault.
func validateRole(r *roleEntry, mountMaxTTL time.Duration) error {
	if len(r.ServiceAccountNames) == 0 {
		return errors.New(`bound_service_account_names: is required (service-account names or globs, or "*")`)
	}
	if err := validateBindingList("bound_service_account_names", r.ServiceAccountNames); err != nil {
		return err
	}
	if err := validateBindingList("bound_service_account_namespaces", r.ServiceAccountNamespaces); err != nil {
		return err
	}
	if len(r.ServiceAccountNamespaces) == 0 && r.ServiceAccountNamespaceSelector == "" {
		return errors.New("bound_service_account_namespaces: is required unless bound_service_account_namespace_selector is set")
	}
	if r.parseSelector(); r.namespaceSelectorErr != nil {
		return r.namespaceSelectorErr
	}
	if r.AliasNameSource != aliasNameSourceUID && r.AliasNameSource != aliasNameSourceName {
		return fmt.Errorf("alias_name_source: %q is not one of %q, %q", r.AliasNameSource, aliasNameSourceUID, aliasNameSourceName)
	}
	if err := validateAudiences(r); err != nil {
		return err
	}
	if err := validateReviewSettings(&r.reviewSettings, r.audiences()); err != nil {
		return err
	}
	if err := validatePodBindings(&r.podBindings); err != nil {
		return err
	}
	if slices.ContainsFunc(r.TokenPolicies, isRootPolicy) {
		return errors.New("token_policies: the root policy cannot be granted through an auth method")
	}
	for field, v := range map[string]time.Duration{
		"token_ttl": r.TokenTTL, "token_max_ttl": r.TokenMaxTTL,
		"token_period": r.TokenPeriod, "token_explicit_max_ttl": r.TokenExplicitMaxTTL,
	} {
		if v < 0 {
			return fmt.Errorf("%s: cannot be negative", field)
		}
	}
	if r.TokenNumUses < 0 {
		return errors.New("token_num_uses: cannot be negative")
	}
	if r.TokenMaxTTL > 0 && r.TokenTTL > r.TokenMaxTTL {
		return fmt.Errorf("token_ttl: %s is greater than token_max_ttl %s", r.TokenTTL, r.TokenMaxTTL)
	}
	if mountMaxTTL > 0 && r.TokenPeriod > mountMaxTTL {
		return fmt.Errorf("token_period: %s is greater than the mount's maximum lease TTL %s", r.TokenPeriod, mountMaxTTL)
	}
	return nil
}

// validateCIDRs accepts IP addresses and CIDR blocks only. The SDK's parser
// also takes any string with a slash as a Unix socket path, so a typo such as
// 10.0.0.0/99 would be stored and then refuse every login.
func validateCIDRs(v any) error {
	addrs, err := parseutil.ParseAddrs(v)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if a.Type()&sockaddr.TypeIP == 0 {
			name := a.String() // a Unix socket path renders quoted
			if unquoted, err := strconv.Unquote(name); err == nil {
				name = unquoted
			}
			return fmt.Errorf("%q is not an IP address or CIDR block", name)
		}
	}
	return nil
}

// isRootPolicy matches the way Vault normalizes policy names when it
// issues a token (trimmed, lower-cased), so " Root" cannot slip through.
func isRootPolicy(p string) bool { return strings.EqualFold(strings.TrimSpace(p), "root") }

// roleWarnings are valid but probably unintended settings.
func roleWarnings(r *roleEntry, mountMaxTTL time.Duration) []string {
	var w []string
	if len(r.audiences()) == 0 {
		w = append(w, "audience is not set: a token minted for any audience, another service's included, can log in "+
			"(the TokenReview then checks the token against its own audiences); "+
			"set one (for example \"vault\") so tokens minted for other services cannot log in")
	}
	if mountMaxTTL > 0 && r.TokenMaxTTL > mountMaxTTL {
		w = append(w, fmt.Sprintf("token_max_ttl %s is greater than the mount's maximum lease TTL %s; tokens will be capped at the latter",
			r.TokenMaxTTL, mountMaxTTL))
	}
	if sel, err := r.selector(); err == nil && sel.Empty() {
		// Only a selector stored before such selectors were refused gets here.
		w = append(w, "bound_service_account_namespace_selector selects every namespace; "+
			"replace it with bound_service_account_namespaces=* if that is meant")
	}
	return append(w, reviewWarnings(&r.reviewSettings)...)
}
