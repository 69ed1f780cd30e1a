package kubeauth

import (
	"net/http"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
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
