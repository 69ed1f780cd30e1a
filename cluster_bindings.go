package kubeauth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// anyCluster in bound_clusters binds every cluster of the mount.
const anyCluster = "*"

// clusterBindings is the role field that says which of the mount's
// clusters may log in with the role. Vault's built-in method has no such
// field; it is stored only when set, and unset it means the default
// cluster alone, which is all that method knows.
type clusterBindings struct {
	BoundClusters []string `json:"bound_clusters,omitempty"`
}

func clusterFieldSchemas(fields map[string]*framework.FieldSchema) {
	fields["bound_clusters"] = &framework.FieldSchema{
		Type: framework.TypeCommaStringSlice,
		Description: `Clusters whose tokens may log in with the role: names of cluster/<name> entries, "default" ` +
			`(the cluster config describes) or "*" (every cluster). Unset: the default cluster only.`,
		DisplayAttrs: &framework.DisplayAttributes{Name: "Bound Clusters"},
	}
}

// bindsCluster says whether the role lets tokens of the named cluster in.
func (c *clusterBindings) bindsCluster(name string) bool {
	if len(c.BoundClusters) == 0 {
		return name == defaultCluster
	}
	return slices.Contains(c.BoundClusters, anyCluster) || slices.Contains(c.BoundClusters, name)
}

// boundClusters are the clusters the role binds, as the log and explain
// say it.
func (c *clusterBindings) boundClusters() []string {
	if len(c.BoundClusters) == 0 {
		return []string{defaultCluster}
	}
	return c.BoundClusters
}

// applyClusterFields takes bound_clusters from a write. Each entry must be
// a cluster name, default or *; whether the named clusters exist is
// checked against storage by checkBoundClustersExist.
func applyClusterFields(c *clusterBindings, d *framework.FieldData) error {
	v, ok := d.GetOk("bound_clusters")
	if !ok {
		return nil
	}
	var names []string
	for _, n := range v.([]string) {
		n = strings.TrimSpace(n)
		switch n {
		case "":
			continue
		case anyCluster, defaultCluster:
		default:
			if err := validateClusterName(n); err != nil {
				return fmt.Errorf("bound_clusters: %q is not a cluster name (names are lower-case letters, digits and '-'; or default, or *)", n)
			}
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	c.BoundClusters = names
	return nil
}

// namedClusters are the cluster/<name> entries the role names.
func (c *clusterBindings) namedClusters() []string {
	var out []string
	for _, n := range c.BoundClusters {
		if n != anyCluster && n != defaultCluster {
			out = append(out, n)
		}
	}
	return out
}

// checkBoundClustersExist refuses a role that names a cluster the mount
// does not have: a typo would otherwise refuse every login of the role.
func checkBoundClustersExist(ctx context.Context, s logical.Storage, c *clusterBindings) error {
	for _, n := range c.namedClusters() {
		entry, err := s.Get(ctx, clusterStorageKey(n))
		if err != nil {
			return fmt.Errorf("reading %s: %w", clusterStorageKey(n), err)
		}
		if entry == nil {
			return refusal.Invalid("bound_clusters: cluster %q does not exist; write cluster/%s first", n, n)
		}
	}
	return nil
}

// clusterReadData adds bound_clusters to a role read, only for a role that
// sets it, so other roles read exactly as Vault's method returns them.
func (c *clusterBindings) clusterReadData(data map[string]interface{}) {
	if len(c.BoundClusters) > 0 {
		data["bound_clusters"] = c.BoundClusters
	}
}
