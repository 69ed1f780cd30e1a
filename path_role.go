package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/helper/tokenutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

func pathRoles(b *backend) []*framework.Path {
	fields := map[string]*framework.FieldSchema{
		"name": {
			Type:        framework.TypeLowerCaseString,
			Description: "Name of the role.",
			Required:    true,
		},
		"bound_service_account_names": {
			Type:        framework.TypeCommaStringSlice,
			Description: `Service-account names allowed to log in; globs ("*" matches any run of characters). Required.`,
			DisplayAttrs: &framework.DisplayAttributes{
				Name: "Bound Service Account Names",
			},
		},
		"bound_service_account_namespaces": {
			Type:        framework.TypeCommaStringSlice,
			Description: `Namespaces allowed to log in; globs. Required unless bound_service_account_namespace_selector is set.`,
			DisplayAttrs: &framework.DisplayAttributes{
				Name: "Bound Service Account Namespaces",
			},
		},
		"bound_service_account_namespace_selector": {
			Type: framework.TypeString,
			Description: "A Kubernetes LabelSelector (matchLabels, matchExpressions) in JSON or YAML; namespaces whose labels " +
				"match may log in, in addition to bound_service_account_namespaces. The reviewer credential needs get on namespaces.",
			DisplayAttrs: &framework.DisplayAttributes{
				Name: "Bound Service Account Namespace Selector",
			},
		},
		"audience": {
			Type:        framework.TypeString,
			Description: "The audience (aud) tokens must be issued for; it is also the audience the TokenReview checks.",
		},
		"audiences": {
			Type: framework.TypeCommaStringSlice,
			Description: "Several audiences, any one of which a token may be issued for; the TokenReview checks the token " +
				"against all of them. Not with audience (write audience=\"\" to switch). The plugin's own field: Vault's built-in " +
				"method ignores it, and would accept any audience after a switch back.",
		},
		"alias_name_source": {
			Type:        framework.TypeString,
			Default:     aliasNameSourceUID,
			Description: `Source of the entity alias name: "serviceaccount_uid" (default) or "serviceaccount_name" (namespace/name).`,
			AllowedValues: []interface{}{
				aliasNameSourceUID, aliasNameSourceName,
			},
		},
		"policies": {
			Type:        framework.TypeCommaStringSlice,
			Description: tokenutil.DeprecationText("token_policies"),
			Deprecated:  true,
		},
		"num_uses": {
			Type:        framework.TypeInt,
			Description: tokenutil.DeprecationText("token_num_uses"),
			Deprecated:  true,
		},
		"ttl": {
			Type:        framework.TypeDurationSecond,
			Description: tokenutil.DeprecationText("token_ttl"),
			Deprecated:  true,
		},
		"max_ttl": {
			Type:        framework.TypeDurationSecond,
			Description: tokenutil.DeprecationText("token_max_ttl"),
			Deprecated:  true,
		},
		"period": {
			Type:        framework.TypeDurationSecond,
			Description: tokenutil.DeprecationText("token_period"),
			Deprecated:  true,
		},
		"bound_cidrs": {
			Type:        framework.TypeCommaStringSlice,
			Description: tokenutil.DeprecationText("token_bound_cidrs"),
			Deprecated:  true,
		},
	}
	reviewFieldSchemas(fields)
	podFieldSchemas(fields)
	workloadMetadataFields(fields)
	tokenIDField(fields)
	loginLimitField(fields)
	clusterFieldSchemas(fields)
	tokenutil.AddTokenFields(fields)

	return []*framework.Path{
		{
			Pattern: "role/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: "kubernetes",
				OperationSuffix: "roles",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback: b.pathRoleList,
					Summary:  "List the roles.",
				},
			},
			HelpSynopsis:    "List the roles.",
			HelpDescription: "Lists the names of the roles of this auth method.",
		},
		{
			Pattern: "role/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: "kubernetes",
				OperationSuffix: "role",
			},
			Fields: fields,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{
					Callback: b.pathRoleWrite,
					Summary:  "Create a role.",
				},
				logical.UpdateOperation: &framework.PathOperation{
					Callback: b.pathRoleWrite,
					Summary:  "Update a role; fields not sent keep their values.",
				},
				logical.PatchOperation: &framework.PathOperation{
					Callback: b.pathRolePatch,
					Summary:  "Change the fields a JSON merge patch sends (null resets a field); the role must exist.",
				},
				logical.ReadOperation: &framework.PathOperation{
					Callback: b.pathRoleRead,
					Summary:  "Read a role.",
				},
				logical.DeleteOperation: &framework.PathOperation{
					Callback: b.pathRoleDelete,
					Summary:  "Delete a role.",
				},
			},
			ExistenceCheck:  b.roleExists,
			HelpSynopsis:    "Bind service accounts to Vault policies and token settings.",
			HelpDescription: strings.TrimSpace(roleHelp),
		},
	}
}

func (b *backend) roleExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	r, err := loadRole(ctx, req.Storage, d.Get("name").(string))
	return r != nil, err
}

func (b *backend) pathRoleList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, rolePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing roles: %w", err)
	}
	return logical.ListResponse(names), nil
}

func (b *backend) pathRoleRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r, err := loadRole(ctx, req.Storage, d.Get("name").(string))
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: r.responseData()}, nil
}

func (b *backend) pathRoleDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	lock := locksutil.LockForKey(b.roleLocks, name)
	lock.Lock()
	defer lock.Unlock()
	if err := req.Storage.Delete(ctx, roleKey(name)); err != nil {
		return nil, fmt.Errorf("deleting role %q: %w", name, err)
	}
	b.roles.forget(name)
	return nil, nil
}

// pathRoleWrite creates a role or updates the fields a request sends; a
// field that is not sent keeps its stored value. Nothing is stored unless
// the whole resulting role is valid.
func (b *backend) pathRoleWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if name == "" {
		return logical.ErrorResponse("name: is required"), nil
	}
	lock := locksutil.LockForKey(b.roleLocks, name)
	lock.Lock()
	defer lock.Unlock()

	r, err := loadRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		// A role no login could name is not created (a stored one, from
		// Vault's method, keeps updating).
		if len(name) > maxRoleNameLen {
			return logical.ErrorResponse(fmt.Sprintf("name: is %d bytes; a role name is at most %d bytes", len(name), maxRoleNameLen)), nil
		}
		r = &roleEntry{}
	}
	return b.updateRole(ctx, req, name, r, d)
}

// updateRole applies the fields d sends to r, validates the whole role and
// stores it. The caller holds the role's lock.
func (b *backend) updateRole(ctx context.Context, req *logical.Request, name string, r *roleEntry, d *framework.FieldData) (*logical.Response, error) {
	if err := applyRoleFields(r, req, d); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	if err := validateRole(r, b.System().MaxLeaseTTL()); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	if err := b.checkLocalRoleLookups(ctx, req.Storage, r); err != nil {
		var bad *refusal.InputError
		if errors.As(err, &bad) {
			return logical.ErrorResponse(bad.Msg), nil
		}
		return nil, err
	}
	// Held until the role is stored, so a cluster the role names cannot be
	// deleted in between (see pathClusterDelete).
	b.clusterBindMu.RLock()
	defer b.clusterBindMu.RUnlock()
	if err := checkBoundClustersExist(ctx, req.Storage, &r.clusterBindings); err != nil {
		var bad *refusal.InputError
		if errors.As(err, &bad) {
			return logical.ErrorResponse(bad.Msg), nil
		}
		return nil, err
	}

	entry, err := logical.StorageEntryJSON(roleKey(name), r)
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("storing role %q: %w", name, err)
	}
	b.roles.forget(name)

	resp := &logical.Response{}
	for _, w := range roleWarnings(r, b.System().MaxLeaseTTL()) {
		resp.AddWarning(w)
	}
	if r.readsPods() {
		// Whether the config has a reviewer credential decides whether the
		// pod fields can work; without a config there is nothing to say yet.
		if cfg, err := loadConfig(ctx, req.Storage); err == nil && cfg != nil {
			selfReview := kube.ReviewsItself(b.reviewerCredential(cfg))
			for _, w := range append(podWarnings(&r.podBindings, selfReview), workloadWarnings(&r.workloadMetadata, selfReview)...) {
				resp.AddWarning(w)
			}
		}
	}
	if len(resp.Warnings) == 0 {
		return nil, nil
	}
	return resp, nil
}

// applyRoleFields copies the fields the request sent onto r, accepting the
// legacy names for the token_* fields. Values are stored as sent, as Vault's
// method stores them (token_policies in the order written, not sorted).
func applyRoleFields(r *roleEntry, req *logical.Request, d *framework.FieldData) error {
	if err := applyBindingFields(r, d); err != nil {
		return err
	}
	if err := applyReviewFields(&r.reviewSettings, d); err != nil {
		return err
	}
	if err := applyPodFields(&r.podBindings, d); err != nil {
		return err
	}
	if err := applyWorkloadMetadata(&r.workloadMetadata, d); err != nil {
		return err
	}
	if err := applyClusterFields(&r.clusterBindings, d); err != nil {
		return err
	}
	if r.AliasNameSource == "" {
		// Roles older than the field, and a field sent empty, get the default.
		r.AliasNameSource = aliasNameSourceUID
	}
	return applyTokenFields(r, req, d)
}

// applyBindingFields applies the service-account bindings, the audience
// and alias_name_source that were sent.
func applyBindingFields(r *roleEntry, d *framework.FieldData) error {
	if v, ok := d.GetOk("bound_service_account_names"); ok {
		r.ServiceAccountNames = v.([]string)
	}
	if v, ok := d.GetOk("bound_service_account_namespaces"); ok {
		r.ServiceAccountNamespaces = v.([]string)
	}
	if v, ok := d.GetOk("bound_service_account_namespace_selector"); ok {
		// Stored as sent (a YAML file ends in a newline); blank means none.
		r.ServiceAccountNamespaceSelector = v.(string)
		if strings.TrimSpace(r.ServiceAccountNamespaceSelector) == "" {
			r.ServiceAccountNamespaceSelector = ""
		}
		// The size cap and the select-all refusal apply to what a write
		// sends; a role stored before them keeps working and updating.
		if r.ServiceAccountNamespaceSelector != "" {
			if err := validateNamespaceSelectorWrite(r.ServiceAccountNamespaceSelector); err != nil {
				return err
			}
		}
	}
	if v, ok := d.GetOk("audience"); ok {
		// Compared with the token's audiences exactly; padded, it would
		// refuse every token.
		if err := noSurroundingSpace("audience", v.(string)); err != nil {
			return err
		}
		r.Audience = v.(string)
	}
	if v, ok := d.GetOk("alias_name_source"); ok {
		r.AliasNameSource = v.(string)
	}
	applyTokenID(r, d)
	if err := applyLoginLimit(r, d); err != nil {
		return err
	}
	return applyAudiences(r, d)
}

// applyTokenFields applies the token_* fields and their legacy names.
func applyTokenFields(r *roleEntry, req *logical.Request, d *framework.FieldData) error {
	for _, field := range []string{"token_bound_cidrs", "bound_cidrs"} {
		if v, ok := d.GetOk(field); ok {
			if err := validateCIDRs(v); err != nil {
				return fmt.Errorf("%s: %w", field, err)
			}
		}
	}
	// The SDK empties alias_metadata whenever it is not sent; an update
	// changes only what it sends, so an unsent alias_metadata is kept.
	aliasMetadata := r.AliasMetadata
	if err := r.ParseTokenFields(req, d); err != nil {
		return err
	}
	if _, sent := d.GetOk("alias_metadata"); !sent && len(aliasMetadata) > 0 {
		r.AliasMetadata = aliasMetadata
	}
	return applyLegacyTokenFields(r, d)
}

// applyLegacyTokenFields fills a token_* field from its legacy name only
// when the token_* name was not sent too; sending both with different
// values is ambiguous, so it is refused. As in Vault's method, a legacy
// field keeps its value until the token_* name is written.
func applyLegacyTokenFields(r *roleEntry, d *framework.FieldData) error {
	legacy := &r.legacyRoleFields
	upgrades := []struct {
		old, new       string
		oldVal, newVal any
	}{
		{"policies", "token_policies", &legacy.Policies, &r.TokenPolicies},
		{"bound_cidrs", "token_bound_cidrs", &legacy.BoundCIDRs, &r.TokenBoundCIDRs},
		{"num_uses", "token_num_uses", &legacy.NumUses, &r.TokenNumUses},
		{"ttl", "token_ttl", &legacy.TTL, &r.TokenTTL},
		{"max_ttl", "token_max_ttl", &legacy.MaxTTL, &r.TokenMaxTTL},
		{"period", "token_period", &legacy.Period, &r.TokenPeriod},
	}
	for _, u := range upgrades {
		oldRaw, oldSent := d.GetOk(u.old)
		newRaw, newSent := d.GetOk(u.new)
		if oldSent && newSent && !reflect.DeepEqual(oldRaw, newRaw) {
			return fmt.Errorf("%s: conflicts with %s, which was also sent; send only %s", u.old, u.new, u.new)
		}
		if err := tokenutil.UpgradeValue(d, u.old, u.new, u.oldVal, u.newVal); err != nil {
			return fmt.Errorf("%s: %w", u.old, err)
		}
	}
	return nil
}

// pathRolePatch changes the fields the patch sends and nothing else, then
// validates and stores the whole role as a write does: nothing is stored
// when the result is invalid. A field sent as null returns to its state
// when never written.
func (b *backend) pathRolePatch(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	lock := locksutil.LockForKey(b.roleLocks, name)
	lock.Lock()
	defer lock.Unlock()

	r, err := loadRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return notFound(req, "role "+name+" does not exist; create it with a write")
	}
	// Only alias_metadata is an object: a patch of it merges into what the
	// role has. Every other field a patch sends replaces the stored value.
	current := map[string]any{}
	if _, ok := req.Data["alias_metadata"]; ok && len(r.AliasMetadata) > 0 {
		current["alias_metadata"] = r.AliasMetadata
	}
	merged, removed := mergePatch(current, req.Data, d.Schema)
	for _, k := range removed {
		if !r.unset(k) {
			merged[k] = d.Schema[k].DefaultOrZero()
		}
	}
	merged["name"] = name
	fd := &framework.FieldData{Raw: merged, Schema: d.Schema}
	if err := fd.Validate(); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	return b.updateRole(ctx, req, name, r, fd)
}

// unset clears one of the role's optional fields that, unset, are not
// stored at all (so the role stores and reads as Vault's method's again);
// false for any other field, which a write of its default resets.
func (r *roleEntry) unset(field string) bool {
	switch field {
	case "review_mode":
		r.ReviewMode = ""
	case "review_cache_ttl":
		r.ReviewCacheTTL = 0
	case "local_max_token_age":
		r.LocalMaxTokenAge = 0
	case "bound_pod_names":
		r.PodNames = nil
	case "bound_node_names":
		r.NodeNames = nil
	case "bound_pod_label_selector":
		r.PodLabelSelector = ""
		r.parsePodSelector()
	case "token_bound_to_workload":
		r.TokenBoundToWorkload = false
	case "bound_clusters":
		r.BoundClusters = nil
	case "login_rate_limit":
		r.LoginRateLimit, r.limit = "", parsedLimit{}
	default:
		return false
	}
	return true
}

const roleHelp = `
A role decides which service accounts may log in (bound_service_account_names,
and bound_service_account_namespaces and/or
bound_service_account_namespace_selector), for which audience, and what token
they get (token_policies, token_ttl and the other token_* fields). The legacy
names policies, ttl, max_ttl, period, num_uses and bound_cidrs are accepted.
review_mode (always, cached, hybrid, local) chooses how tokens are verified:
a TokenReview per login, a TokenReview reused for review_cache_ttl, young
bound tokens verified locally (up to local_max_token_age) against the
cluster's signing keys, or every token verified against those keys and none
reviewed (local_max_token_age required).
`
