package setup

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	vault "github.com/hashicorp/vault/api"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// mountTargets registers the external plugins the targets need (each
// binary copied into Vault's plugin directory, with its sha256) and mounts
// every target afresh.
func (b *builder) mountTargets(ctx context.Context) error {
	if b.cfg.wantsKind(targets.KindPlugin) {
		var envVars []string
		if b.cfg.ServePprof {
			addr, err := freeLoopbackAddr()
			if err != nil {
				return err
			}
			b.st.PprofAddr = addr
			envVars = append(envVars, pprofEnv+"="+addr)
		}
		if err := b.registerPlugin(ctx, b.cfg.Plugins.Bin, b.cfg.Plugins.Name, b.cfg.Plugins.Version, envVars); err != nil {
			return err
		}
	}
	if b.cfg.wantsKind(targets.KindUpstream) {
		if err := b.registerPlugin(ctx, b.cfg.Plugins.UpstreamBin, UpstreamName, b.cfg.Plugins.UpstreamVersion, nil); err != nil {
			return err
		}
	}
	if b.cfg.wantsKind(targets.KindNoop) {
		// Unversioned: the no-op plugin reports no version.
		if err := b.registerPlugin(ctx, b.cfg.Plugins.NoopBin, NoopName, "", nil); err != nil {
			return err
		}
	}
	for _, name := range b.cfg.Targets {
		t := targets.ByName[name]
		in := &vault.MountInput{Description: "loginbench: " + t.Label}
		switch t.Kind {
		case targets.KindTokenCreate:
			continue
		case targets.KindBuiltin:
			in.Type = "kubernetes"
		case targets.KindPlugin:
			in.Type, in.Config.PluginVersion = b.cfg.Plugins.Name, b.cfg.Plugins.Version
		case targets.KindUpstream:
			in.Type, in.Config.PluginVersion = UpstreamName, b.cfg.Plugins.UpstreamVersion
		case targets.KindNoop:
			in.Type = NoopName
		}
		if err := remount(ctx, b.st.Admin, t.Mount, in); err != nil {
			return err
		}
		out, err := b.st.Admin.Sys().GetAuthWithContext(ctx, t.Mount)
		if err != nil {
			return fmt.Errorf("read sys/auth/%s: %w", t.Mount, err)
		}
		if t.Kind == targets.KindBuiltin {
			b.st.Facts.BuiltinVersion = out.RunningVersion
			continue
		}
		// What Vault says is running must be the binary just registered,
		// not a leftover of an earlier run.
		if want := b.st.Facts.SHA256[in.Type]; out.RunningSha256 != want {
			return fmt.Errorf("auth/%s runs %s sha256 %s, want sha256 %s", t.Mount, out.RunningVersion, out.RunningSha256, want)
		}
	}
	return nil
}

// freeLoopbackAddr picks a free port on 127.0.0.1 for the plugin's
// profiling endpoints.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// registerPlugin copies bin into Vault's plugin directory as name and
// registers it with its checksum, version and environment.
func (b *builder) registerPlugin(ctx context.Context, bin, name, version string, envVars []string) error {
	sum, err := installBinary(bin, filepath.Join(b.cfg.Plugins.Dir, name))
	if err != nil {
		return err
	}
	err = b.st.Admin.Sys().RegisterPluginWithContext(ctx, &vault.RegisterPluginInput{
		Name:    name,
		Type:    vault.PluginTypeCredential,
		Command: name,
		SHA256:  sum,
		Version: version,
		Env:     envVars,
	})
	if err != nil {
		return fmt.Errorf("register %s %s: %w", name, version, err)
	}
	b.st.Facts.SHA256[name] = sum
	progress.Printf("registered %s %s (sha256 %s)%s", name, cmp.Or(version, "–"), sum, strings.Join(append([]string{""}, envVars...), " "))
	return nil
}

func writePolicies(ctx context.Context, admin *vault.Client) error {
	// What the workload's token may do is irrelevant to login cost; the
	// policy only has to exist so every method attaches the same one.
	policies := map[string]string{
		fixture.WorkloadPolicy: `path "secret/data/bench/*" { capabilities = ["read"] }`,
		// sudo: only a privileged caller may ask for a token without a
		// parent (no_parent), see setupFloor.
		issuerPolicy: `path "auth/token/create" { capabilities = ["update", "sudo"] }`,
	}
	for name, rules := range policies {
		if err := admin.Sys().PutPolicyWithContext(ctx, name, rules); err != nil {
			return fmt.Errorf("policy %s: %w", name, err)
		}
	}
	return nil
}

// installBinary copies src to dst through a temporary name and a rename, so a
// plugin process still running the previous file is never written into, and
// returns the SHA-256 of what it wrote.
func installBinary(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp")
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// remount replaces whatever an earlier run left at path, so every run starts
// from a fresh mount with no leftover config, roles or cached clients.
func remount(ctx context.Context, admin *vault.Client, path string, in *vault.MountInput) error {
	mounts, err := admin.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return fmt.Errorf("list auth mounts: %w", err)
	}
	if _, ok := mounts[path+"/"]; ok {
		if err := admin.Sys().DisableAuthWithContext(ctx, path); err != nil {
			return fmt.Errorf("disable auth/%s: %w", path, err)
		}
	}
	if err := admin.Sys().EnableAuthWithOptionsWithContext(ctx, path, in); err != nil {
		return fmt.Errorf("enable auth/%s (type %s): %w", path, in.Type, err)
	}
	return nil
}

// writeMountConfig writes the config and the role, and checks that the
// role kept the review fields: a plugin without them would ignore them
// with a warning, and its "cached" target would silently measure "always".
func writeMountConfig(ctx context.Context, admin *vault.Client, t targets.Target, config, role map[string]any) error {
	if _, err := admin.Logical().WriteWithContext(ctx, "auth/"+t.Mount+"/config", config); err != nil {
		return fmt.Errorf("auth/%s/config: %w", t.Mount, err)
	}
	if err := writeClusters(ctx, admin, t, config); err != nil {
		return err
	}
	rolePath := "auth/" + t.Mount + "/role/" + fixture.RoleName
	s, err := admin.Logical().WriteWithContext(ctx, rolePath, role)
	if err != nil {
		return fmt.Errorf("%s: %w", rolePath, err)
	}
	if s != nil && len(s.Warnings) > 0 {
		progress.Printf("%s: warnings: %s", rolePath, strings.Join(s.Warnings, "; "))
	}
	if t.ReviewMode == "" {
		return nil
	}
	got, err := admin.Logical().ReadWithContext(ctx, rolePath)
	if err != nil {
		return fmt.Errorf("read %s: %w", rolePath, err)
	}
	if got == nil || fmt.Sprint(got.Data["review_mode"]) != t.ReviewMode {
		var have any
		if got != nil {
			have = got.Data["review_mode"]
		}
		return fmt.Errorf("%s: review_mode reads back as %v, want %q: this plugin build does not have the field; leave %s out of -targets",
			rolePath, have, t.ReviewMode, t.Name)
	}
	return nil
}

// writeClusters writes the extra clusters of a *-10c target and checks
// that the mount lists them all: a plugin build without cluster/<name>
// would answer 404, and its 10c target would measure one cluster.
func writeClusters(ctx context.Context, admin *vault.Client, t targets.Target, config map[string]any) error {
	if t.ExtraClusters == 0 {
		return nil
	}
	bodies := targets.ClusterConfigs(t, config)
	for _, name := range slices.Sorted(maps.Keys(bodies)) {
		path := "auth/" + t.Mount + "/cluster/" + name
		if _, err := admin.Logical().WriteWithContext(ctx, path, bodies[name]); err != nil {
			return fmt.Errorf("%s: %w (does this plugin build have cluster/<name>? leave %s out of -targets)", path, err, t.Name)
		}
	}
	listed, err := admin.Logical().ListWithContext(ctx, "auth/"+t.Mount+"/cluster")
	if err != nil {
		return fmt.Errorf("list auth/%s/cluster: %w", t.Mount, err)
	}
	var keys []any
	if listed != nil {
		keys, _ = listed.Data["keys"].([]any)
	}
	if len(keys) != len(bodies) {
		return fmt.Errorf("auth/%s/cluster lists %d clusters, want %d", t.Mount, len(keys), len(bodies))
	}
	progress.Printf("auth/%s: %d clusters (config and %d at cluster/<name>, issuers %s … %s)", t.Mount, len(bodies)+1, len(bodies),
		targets.ExtraClusterIssuer(1), targets.ExtraClusterIssuer(t.ExtraClusters))
	return nil
}
