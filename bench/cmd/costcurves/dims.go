package main

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/setup"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// Namespaces of the namespaces dimension carry this label, which the
// selector role matches.
const (
	nsLabel      = "kubeauth-curves"
	nsLabelValue = "selected"
	nsPrefix     = "kubeauth-curves-"
)

// grower makes a dimension n large on its mount and returns the tokens the
// logins present (in the order of the pool) and, for the roles dimension,
// the roles they name in turn.
type grower func(ctx context.Context, mount string, n int) (pool, roles []string, err error)

// target is the catalog entry for a dimension's mount: this plugin, hybrid.
func target(dim string) targets.Target {
	t := targets.ByName[targets.PluginHybrid]
	t.Name, t.Mount, t.Label = "curves-"+dim, "curves-"+dim, "this plugin, review_mode=hybrid, "+dim
	return t
}

// measureDimension mounts the dimension's mount afresh and measures it at
// every size; what was measured before an error is returned with it.
func (c *costs) measureDimension(ctx context.Context, dim string) (*curve, error) {
	t := target(dim)
	if err := setup.MountPlugin(ctx, c.st.Admin, t.Mount, c.o.plugins, c.st.MountConfig); err != nil {
		return nil, err
	}
	role := targets.Role(t, c.o.role)
	if dim == DimNamespaces {
		if err := setup.GrantNamespaceReads(ctx, c.st.Kube); err != nil {
			return nil, err
		}
		delete(role, "bound_service_account_namespaces")
		role["bound_service_account_namespace_selector"] = fmt.Sprintf(`{"matchLabels":{%q:%q}}`, nsLabel, nsLabelValue)
	}
	cv := &curve{dim: dim}
	if dim == DimFlood {
		return cv, c.measureFlood(ctx, t, role, cv)
	}
	grow := map[string]grower{
		DimRoles:      c.roleGrower(role),
		DimClusters:   c.clusterGrower(),
		DimNamespaces: c.namespaceGrower(),
		DimAccounts:   c.accountGrower(),
	}[dim]
	if dim != DimRoles {
		if err := c.writeRole(ctx, t.Mount, fixture.RoleName, role); err != nil {
			return nil, err
		}
	}
	for _, n := range c.o.sizes[dim] {
		start := time.Now()
		pool, roles, err := grow(ctx, t.Mount, n)
		if err != nil {
			return cv, fmt.Errorf("size %d: %w", n, err)
		}
		took := time.Since(start)
		progress.Printf("%s = %d: set up in %s", dim, n, took.Round(100*time.Millisecond))
		p, err := c.measurePoint(ctx, t, pool, roles)
		if err != nil {
			return cv, fmt.Errorf("size %d: %w", n, err)
		}
		p.n, p.setup = n, took
		cv.points = append(cv.points, p)
	}
	return cv, nil
}

func (c *costs) writeRole(ctx context.Context, mount, name string, role map[string]any) error {
	path := "auth/" + mount + "/role/" + name
	if _, err := c.st.Admin.Logical().WriteWithContext(ctx, path, role); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// roleGrower writes roles role-00000 … (the same role under each name) up
// to n; the logins name them in turn, so every role is read by the login
// path in each pass over the pool.
func (c *costs) roleGrower(role map[string]any) grower {
	var names []string
	return func(ctx context.Context, mount string, n int) ([]string, []string, error) {
		have := len(names)
		for i := have; i < n; i++ {
			names = append(names, fmt.Sprintf("role-%05d", i))
		}
		err := setup.Parallel(ctx, n-have, func(i int) error { return c.writeRole(ctx, mount, names[have+i], role) })
		return repeatTo(c.base, max(n, len(c.base))), names, err
	}
}

// clusterGrower adds cluster/<name> entries up to n clusters in all
// (config counts as one): each points at the same API server with the
// same CA and reviewer, under an issuer of its own that no token carries,
// so every login's cluster is chosen among n and is always config's.
func (c *costs) clusterGrower() grower {
	have := 1
	return func(ctx context.Context, mount string, n int) ([]string, []string, error) {
		for ; have < n; have++ {
			body := maps.Clone(c.st.MountConfig)
			body["issuer"] = targets.ExtraClusterIssuer(have)
			path := "auth/" + mount + "/cluster/" + targets.ExtraClusterName(have)
			if _, err := c.st.Admin.Logical().WriteWithContext(ctx, path, body); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", path, err)
			}
		}
		return c.base, nil, nil
	}
}

// namespaceGrower makes labeled namespaces up to n, with one workload
// account each and a token of it; each login comes from the next
// namespace, so the selector role looks up the labels of all n in turn.
func (c *costs) namespaceGrower() grower {
	var tokens []string
	return func(ctx context.Context, _ string, n int) ([]string, []string, error) {
		have := len(tokens)
		var names []string
		var accounts []setup.Account
		for i := have; i < n; i++ {
			ns := fmt.Sprintf("%s%05d", nsPrefix, i)
			names = append(names, ns)
			accounts = append(accounts, setup.Account{Namespace: ns, Name: setup.WorkloadSAName(0)})
		}
		if err := setup.CreateNamespaces(ctx, c.st.Kube, names, map[string]string{nsLabel: nsLabelValue}); err != nil {
			return nil, nil, err
		}
		if err := setup.Parallel(ctx, len(accounts), func(i int) error {
			return setup.CreateServiceAccounts(ctx, c.st.Kube, accounts[i].Namespace, []string{accounts[i].Name})
		}); err != nil {
			return nil, nil, err
		}
		more, err := setup.RequestTokens(ctx, c.st.Kube, accounts, []string{fixture.Audience}, c.o.tokenLifetime)
		tokens = append(tokens, more...)
		return tokens, nil, err
	}
}

// accountGrower makes workload accounts of fixture.Namespace up to n, with
// a token each; each login presents the next account's token.
func (c *costs) accountGrower() grower {
	tokens := c.base
	return func(ctx context.Context, _ string, n int) ([]string, []string, error) {
		have := len(tokens)
		names := make([]string, 0, n-have)
		accounts := make([]setup.Account, 0, n-have)
		for i := have; i < n; i++ {
			names = append(names, setup.WorkloadSAName(i))
			accounts = append(accounts, setup.Account{Namespace: fixture.Namespace, Name: setup.WorkloadSAName(i)})
		}
		if err := setup.CreateServiceAccounts(ctx, c.st.Kube, fixture.Namespace, names); err != nil {
			return nil, nil, err
		}
		more, err := setup.RequestTokens(ctx, c.st.Kube, accounts, []string{fixture.Audience}, c.o.tokenLifetime)
		tokens = append(tokens[:have:have], more...)
		return tokens[:n], nil, err
	}
}

// repeatTo is tokens repeated (in order) to n entries.
func repeatTo(tokens []string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = tokens[i%len(tokens)]
	}
	return out
}

// usePool makes pool (and roles) what the next logins present.
func (c *costs) usePool(pool, roles []string) {
	c.st.Load.Tokens.Pool = load.NewTokenPool(pool, len(pool), time.Now())
	c.st.Load.Tokens.Roles = roles
}
