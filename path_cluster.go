package kubeauth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// pathClusters are cluster/<name> (one more cluster behind the mount, with
// config's fields and rules), LIST cluster, and cluster/<name>/check.
func pathClusters(b *backend) []*framework.Path {
	nameField := func() *framework.FieldSchema {
		return &framework.FieldSchema{
			Type:        framework.TypeString,
			Description: "Name of the cluster: lower-case letters, digits and '-'. \"default\" is the cluster config describes.",
			Required:    true,
		}
	}
	fields := configFields()
	fields["name"] = nameField()
	return []*framework.Path{
		{
			Pattern: "cluster/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: "kubernetes",
				OperationSuffix: "clusters",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback: b.pathClusterList,
					Summary:  "List the named clusters (the default cluster is config's).",
				},
			},
			HelpSynopsis:    "List the named clusters.",
			HelpDescription: "Lists the clusters written at cluster/<name>; the default cluster, config's, is not listed.",
		},
		{
			Pattern: "cluster/" + framework.GenericNameRegex("name") + "/check$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: "kubernetes",
				OperationVerb:   "check",
				OperationSuffix: "cluster",
			},
			Fields: map[string]*framework.FieldSchema{"name": nameField()},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: b.pathClusterCheckRead,
					Summary:  "Check a cluster's config against the live cluster, as config/check does for config.",
				},
			},
			HelpSynopsis:    "Check a cluster's config against the live Kubernetes cluster.",
			HelpDescription: "The same checks as config/check, for cluster/<name>; cluster/default/check is config/check.",
		},
		{
			Pattern: "cluster/" + framework.GenericNameRegex("name") + "$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: "kubernetes",
				OperationSuffix: "cluster",
			},
			Fields: fields,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback: b.pathClusterWrite,
					Summary:  "Write a cluster's config; as with config, a write replaces the whole entry.",
				},
				logical.PatchOperation: &framework.PathOperation{
					Callback: b.pathClusterPatch,
					Summary:  "Change the fields a JSON merge patch sends; the cluster must exist.",
				},
				logical.ReadOperation: &framework.PathOperation{
					Callback: b.pathClusterRead,
					Summary:  "Read a cluster's config (the reviewer JWT is reported as set or not, never returned).",
				},
				logical.DeleteOperation: &framework.PathOperation{
					Callback: b.pathClusterDelete,
					Summary:  "Delete a cluster; refused while a role names it in bound_clusters.",
				},
			},
			HelpSynopsis:    "One more Kubernetes cluster behind this mount.",
			HelpDescription: strings.TrimSpace(clusterHelp),
		},
	}
}

func (b *backend) pathClusterList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, clusterPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing clusters: %w", err)
	}
	return logical.ListResponse(names), nil
}

// clusterName reads and checks the name in the path.
func clusterName(d *framework.FieldData) (string, error) {
	name := d.Get("name").(string)
	return name, validateClusterName(name)
}

func (b *backend) pathClusterWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := clusterName(d)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	b.configMu.Lock()
	defer b.configMu.Unlock()
	return b.storeClusterConfig(ctx, req, name, d)
}

func (b *backend) pathClusterPatch(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := clusterName(d)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	return b.patchClusterConfig(ctx, req, name, d)
}

// readableClusterName reads the name in a path that may also name the
// default cluster (reads and checks; writes must go to config).
func readableClusterName(d *framework.FieldData) (string, error) {
	name := d.Get("name").(string)
	if name == defaultCluster {
		return name, nil
	}
	return name, validateClusterName(name)
}

// pathClusterRead reads a cluster's config; cluster/default reads config.
func (b *backend) pathClusterRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := readableClusterName(d)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	cfg, err := loadClusterConfig(ctx, req.Storage, name)
	if err != nil || cfg == nil {
		return nil, err
	}
	return &logical.Response{Data: cfg.readData()}, nil
}

// pathClusterDelete deletes a cluster unless a role names it: the role's
// logins from that cluster would then be refused for a reason nobody
// chose. A role binding "*" does not hold a cluster.
func (b *backend) pathClusterDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := clusterName(d)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	b.clusterBindMu.Lock()
	defer b.clusterBindMu.Unlock()
	b.configMu.Lock()
	defer b.configMu.Unlock()

	binding, err := b.rolesNamingCluster(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if len(binding) > 0 {
		return logical.ErrorResponse(fmt.Sprintf("cluster %q is named in the bound_clusters of roles %q; "+
			"remove it from those roles (or delete them) first", name, binding)), nil
	}
	if err := req.Storage.Delete(ctx, clusterStorageKey(name)); err != nil {
		return nil, fmt.Errorf("deleting %s: %w", clusterStorageKey(name), err)
	}
	b.resetState(name)
	b.forgetClusterNames()
	b.metrics.ForgetCluster(name)
	return nil, nil
}

// rolesNamingCluster are the roles whose bound_clusters name the cluster.
func (b *backend) rolesNamingCluster(ctx context.Context, s logical.Storage, name string) ([]string, error) {
	roles, err := s.List(ctx, rolePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing roles: %w", err)
	}
	var out []string
	for _, role := range roles {
		r, err := loadRole(ctx, s, role)
		if err != nil {
			return nil, err
		}
		if r != nil && slices.Contains(r.BoundClusters, name) {
			out = append(out, role)
		}
	}
	return out, nil
}

// pathClusterCheckRead is config/check for one cluster.
func (b *backend) pathClusterCheckRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := readableClusterName(d)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	return b.diagnoseCluster(ctx, req, name)
}

// clusterChoiceWarnings are the warnings of a config or cluster write on a
// mount with named clusters one of whose issuers cannot be known: no issuer
// field, and no reviewer credential to read the one its API server
// announces. No token is then matched by issuer alone (it may be that
// cluster's), so that cluster's own tokens fail as internal errors unless
// its pem_keys verify them, and the others' are matched by signing key
// only, failing where a cluster has no keys to tell them apart with.
func (b *backend) clusterChoiceWarnings(ctx context.Context, s logical.Storage) ([]string, error) {
	names, err := b.clusterNames(ctx, s)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	refs, err := b.mountClusters(ctx, s)
	if err != nil {
		return nil, err
	}
	defer releaseClusters(refs)
	var w []string
	for _, r := range refs {
		if r.state == nil || !issuerUnknowable(r.state) {
			continue
		}
		key := clusterStorageKey(r.name)
		w = append(w, fmt.Sprintf("%s has neither issuer nor a reviewer credential (token_reviewer_jwt or Vault's own pod token), "+
			"so the issuer of its tokens cannot be known; with several clusters behind the mount no token is matched by "+
			"issuer alone while it is unknown: the logins of cluster %q fail with an internal error unless its pem_keys "+
			"verify their tokens, and the other clusters' tokens are matched by signing key only; set issuer on %s "+
			"to the iss of its tokens", key, r.name, key))
	}
	return w, nil
}

// issuerUnknowable: the cluster's issuer is neither configured nor
// readable from its API server.
func issuerUnknowable(st *liveCluster) bool {
	return st.config.Issuer == "" && !st.hasReviewer()
}

const clusterHelp = `
A named cluster is one more Kubernetes cluster whose service accounts log in
through this mount, with the same login request. It has config's fields and
rules (the reviewer JWT is never returned). A login's cluster is decided from
its token: by its issuer (the cluster's issuer field, else the issuer its API
server announces) and, when clusters share an issuer, by its signing key
(pem_keys, else the keys the API server publishes). Roles name the clusters
they accept in bound_clusters; unset, a role accepts the default cluster,
config's, alone. Once a mount has a named cluster, tokens and entity aliases
carry the cluster's name in their metadata.
`
