package kubeauth

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// mergePatch applies a JSON merge patch (RFC 7396), the body of a PATCH
// request, to current, the resource's fields as a write would send them:
// a member the patch sets replaces the field, an object is merged into an
// object field member by member, and null removes the field (removed lists
// them). Members the path has no field for are left out; the framework
// warns about them.
//
// The SDK's HandlePatchOperation decodes null into each type's zero value
// before merging, so a null would set false where the default is true;
// here null means what RFC 7396 says, that the field is no longer given.
func mergePatch(current, patch map[string]any, schema map[string]*framework.FieldSchema) (merged map[string]any, removed []string) {
	merged = make(map[string]any, len(current)+len(patch))
	for k, v := range current {
		merged[k] = v
	}
	for k, v := range patch {
		if _, ok := schema[k]; !ok {
			continue
		}
		if v == nil {
			delete(merged, k)
			removed = append(removed, k)
			continue
		}
		if obj, ok := v.(map[string]any); ok {
			if cur := asObject(merged[k]); cur != nil {
				merged[k] = mergeObject(cur, obj)
				continue
			}
		}
		merged[k] = v
	}
	return merged, removed
}

// mergeObject merges a patch object into an object member by member.
func mergeObject(cur, patch map[string]any) map[string]any {
	out := make(map[string]any, len(cur)+len(patch))
	for k, v := range cur {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

func asObject(v any) map[string]any {
	switch m := v.(type) {
	case map[string]any:
		return m
	case map[string]string:
		out := make(map[string]any, len(m))
		for k, s := range m {
			out[k] = s
		}
		return out
	}
	return nil
}

// notFound is the answer to a PATCH of something that does not exist: a
// patch changes a resource, it does not create one.
func notFound(req *logical.Request, msg string) (*logical.Response, error) {
	return logical.RespondWithStatusCode(logical.ErrorResponse(msg), req, http.StatusNotFound)
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
	default:
		return false
	}
	return true
}

// pathConfigPatch changes the config fields the patch sends and keeps the
// others as stored, token_reviewer_jwt included (which a read never
// returns, so a read-modify-write could not keep it): the patch replaces
// it, clears it with null, or leaves it. The result is validated and
// stored as a write is.
func (b *backend) pathConfigPatch(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return b.patchClusterConfig(ctx, req, defaultCluster, d)
}

// patchClusterConfig is the PATCH of a cluster's config (config itself
// for the default cluster); see pathConfigPatch.
func (b *backend) patchClusterConfig(ctx context.Context, req *logical.Request, name string, d *framework.FieldData) (*logical.Response, error) {
	b.configMu.Lock()
	defer b.configMu.Unlock()
	cfg, err := loadClusterConfig(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		if name == defaultCluster {
			return notFound(req, "the auth method is not configured; write the config first")
		}
		return notFound(req, "cluster "+name+" does not exist; create it with a write")
	}
	merged, _ := mergePatch(cfg.fields(), req.Data, d.Schema)
	fd := &framework.FieldData{Raw: merged, Schema: d.Schema}
	if err := fd.Validate(); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	if _, sent := req.Data["token_reviewer_jwt"]; !sent && cfg.TokenReviewerJWT != "" {
		next, err := configFromFields(fd)
		if err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
		if moved := credentialDestination(cfg, next); len(moved) > 0 {
			return logical.ErrorResponse(keptReviewerMessage(moved)), nil
		}
	}
	return b.storeClusterConfig(ctx, req, name, fd)
}

// credentialDestination names the fields whose change from old to next
// sends the reviewer JWT to another server: kubernetes_host says where it
// goes, and the CA (kubernetes_ca_cert, or disable_local_ca_jwt while the
// CA is unset, which switches between the pod's CA and the system trust
// store) says who may answer there. A patch keeps a reviewer JWT it does
// not send, and a read never returns it, so a patch that changed these
// alone would let the patch capability deliver a secret that no policy
// lets it read to a server of its choice.
//
// The pod's own token (no reviewer JWT stored) is not held to this rule:
// it is no field of the config, and a write, which Vault's built-in
// method and this one both allow to change kubernetes_host alone, sends it
// wherever the write says.
func credentialDestination(old, next *clusterConfig) []string {
	var moved []string
	if kube.NormalizeHost(old.Host) != kube.NormalizeHost(next.Host) {
		moved = append(moved, "kubernetes_host")
	}
	if strings.TrimSpace(old.CACert) != strings.TrimSpace(next.CACert) {
		moved = append(moved, "kubernetes_ca_cert")
	} else if next.CACert == "" && old.DisableLocalCAJwt != next.DisableLocalCAJwt {
		moved = append(moved, "disable_local_ca_jwt")
	}
	return moved
}

// keptReviewerMessage is the 400 of a patch that would send the stored
// reviewer JWT to the server the fields moved name.
func keptReviewerMessage(moved []string) string {
	return fmt.Sprintf("token_reviewer_jwt: this patch changes %s, which decides the server the stored reviewer JWT is sent to; "+
		"send token_reviewer_jwt again in the same patch (or null to clear it), or write the whole config",
		strings.Join(moved, " and "))
}

// fields is the config as a write would send it. pem_keys stored as null
// is not sent, as a write without it stores it.
func (c *clusterConfig) fields() map[string]any {
	f := map[string]any{
		"kubernetes_host":                   c.Host,
		"kubernetes_ca_cert":                c.CACert,
		"token_reviewer_jwt":                c.TokenReviewerJWT,
		"pem_keys":                          c.PEMKeys,
		"issuer":                            c.Issuer,
		"disable_iss_validation":            c.DisableISSValidation,
		"disable_local_ca_jwt":              c.DisableLocalCAJwt,
		"use_annotations_as_alias_metadata": c.UseAnnotationsAsAliasMetadata,
	}
	if c.PEMKeys == nil {
		delete(f, "pem_keys")
	}
	return f
}
