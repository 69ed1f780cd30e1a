package setup

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// firstLogin proves the mount works before anything is timed. It retries for
// a few seconds because the API server's RBAC authorizer learns about the
// reviewer's fresh ClusterRoleBinding from a watch, not synchronously.
func (b *builder) firstLogin(ctx context.Context, t targets.Target) (*vault.SecretAuth, error) {
	c, err := b.st.Load.Conn.Client("")
	if err != nil {
		return nil, err
	}
	body := map[string]any{"role": fixture.RoleName, "jwt": b.st.Load.Tokens.Repeat[0]}
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := load.Issue(ctx, c, t.LoginPath(), body)
		if err == nil {
			return s.Auth, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("first login on auth/%s: %w", t.Mount, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// tokenKind tells batch from service tokens by the prefix Vault gives them.
func tokenKind(token string) string {
	switch {
	case strings.HasPrefix(token, "hvb."), strings.HasPrefix(token, "b."):
		return "batch"
	case strings.HasPrefix(token, "hvs."), strings.HasPrefix(token, "s."):
		return "service"
	}
	return "unknown"
}

// compareLogins notes where a target's first token differs from the
// built-in method's for the same JWT: the comparison is only fair if every
// target issues the same token. The no-op plugin's identity is fixed, so
// only the names of its metadata keys are compared.
func (b *builder) compareLogins(logins map[string]*vault.SecretAuth) {
	ref := logins[targets.Builtin]
	if ref == nil {
		return
	}
	for _, name := range targets.Names() {
		got := logins[name]
		if got == nil || name == targets.Builtin {
			continue
		}
		if !slices.Equal(sortedCopy(got.TokenPolicies), sortedCopy(ref.TokenPolicies)) {
			b.notes.Add("token policies differ: %s %v, builtin %v", name, got.TokenPolicies, ref.TokenPolicies)
		}
		if name == targets.Noop {
			if !slices.Equal(sortedKeys(got.Metadata), sortedKeys(ref.Metadata)) {
				b.notes.Add("token metadata keys differ: %s %v, builtin %v", name, sortedKeys(got.Metadata), sortedKeys(ref.Metadata))
			}
		} else if md, note := comparableMetadata(targets.ByName[name], got.Metadata); note != "" {
			b.notes.Add("%s", note)
		} else if !maps.Equal(md, ref.Metadata) {
			b.notes.Add("token metadata differ: %s %v, builtin %v", name, got.Metadata, ref.Metadata)
		}
		if got.LeaseDuration != ref.LeaseDuration || got.Renewable != ref.Renewable {
			b.notes.Add("token lease differs: %s %ds renewable=%v, builtin %ds renewable=%v",
				name, got.LeaseDuration, got.Renewable, ref.LeaseDuration, ref.Renewable)
		}
	}
}

// comparableMetadata is a target's token metadata as the built-in
// method's should equal it. A mount with named clusters adds "cluster"
// to every login's metadata, as it should; the workload tokens are all
// config's cluster's, so it must read "default", and then is left out of
// the comparison. note says what is wrong otherwise.
func comparableMetadata(t targets.Target, md map[string]string) (map[string]string, string) {
	if t.ExtraClusters == 0 {
		return md, ""
	}
	if got, ok := md["cluster"]; !ok || got != "default" {
		return md, fmt.Sprintf("auth/%s: token metadata cluster = %q (present: %v), want \"default\": the login chose another cluster than config's", t.Mount, got, ok)
	}
	out := maps.Clone(md)
	delete(out, "cluster")
	return out, ""
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
