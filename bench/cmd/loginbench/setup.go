package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/measure"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// Catalog names (and plugin file names) of the two plugins that are not
// this project's; this plugin's is -plugin-name.
const (
	upstreamName = "vault-plugin-auth-kubernetes-upstream"
	noopName     = "kubeauth-bench-noop"
)

// Vault policies the benchmark writes.
const issuerPolicy = "kubeauth-bench-issuer"

// pprofEnv is the plugin's KUBEAUTH_PPROF_ADDR: where it serves its
// profiling endpoints when registered with it.
const pprofEnv = "KUBEAUTH_PPROF_ADDR"

// benchEnv is what setup prepared for the measurement.
type benchEnv struct {
	admin *vault.Client // the operator's token: setup and profiles only
	// load is the connection to Vault and the tokens the runs present.
	load  *load.Loader
	kube  kubernetes.Interface
	procs measure.Procs

	poolStats poolStats

	vaultVersion   string
	kubeVersion    string
	builtinVersion string            // the version Vault reports for the built-in mount
	sha256         map[string]string // plugin catalog name -> sha256 registered
	tokenKind      map[string]string // target -> "batch" or "service", from its first token
	pluginFiles    map[targets.Kind]string
	pprofAddr      string // this plugin's profiling endpoints; "" when it serves none
	notes          progress.Notes
	outDir         string
	// tokensMinted is when the first workload token was requested; hybrid
	// mode verifies a token locally only while it is younger than the
	// role's local_max_token_age.
	tokensMinted time.Time
	agedNoted    bool
	// loadAtStart is the machine's load average when the rounds began.
	loadAtStart string
}

func setup(ctx context.Context, o *options) (*benchEnv, error) {
	env := &benchEnv{
		load: &load.Loader{
			Conn:   load.Conn{Addr: o.vaultAddr, Timeout: o.timeout, Transport: load.NewTransport(o.maxClients())},
			Tokens: &load.Tokens{},
		},
		procs:     measure.Procs{StackDir: o.stackDir},
		sha256:    map[string]string{},
		tokenKind: map[string]string{},
		pluginFiles: map[targets.Kind]string{
			targets.KindPlugin: o.pluginName, targets.KindUpstream: upstreamName, targets.KindNoop: noopName,
		},
	}

	admin, err := env.load.Conn.Client(o.vaultToken)
	if err != nil {
		return nil, err
	}
	env.admin = admin
	health, err := admin.Sys().HealthWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("vault at %s: %w", o.vaultAddr, err)
	}
	env.vaultVersion = health.Version

	if env.outDir = o.outDir; env.outDir == "" && len(o.profiles) > 0 {
		if env.outDir, err = os.MkdirTemp("", "loginbench-"); err != nil {
			return nil, err
		}
	}
	if env.outDir != "" {
		if err := os.MkdirAll(env.outDir, 0o755); err != nil {
			return nil, err
		}
	}

	caPEM, err := os.ReadFile(o.kubeCAFile)
	if err != nil {
		return nil, fmt.Errorf("kubernetes CA: %w", err)
	}
	if env.kube, err = newKubeClient(o); err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	start := time.Now()
	env.tokensMinted = start
	reviewerJWT, err := setupKube(ctx, o, env)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	progress.Printf("kubernetes %s: reviewer %s/%s (system:auth-delegator), %d workload service accounts %s*, %d repeat tokens in %s",
		env.kubeVersion, fixture.Namespace, reviewerSA, o.serviceAccts, fixture.WorkloadSAPrefix, len(env.load.Tokens.Repeat),
		time.Since(start).Round(time.Second))

	if err := writePolicies(ctx, admin); err != nil {
		return nil, err
	}
	if err := mountTargets(ctx, o, env); err != nil {
		return nil, err
	}

	config := map[string]any{
		"kubernetes_host":    o.kubeHost,
		"kubernetes_ca_cert": string(caPEM),
		"token_reviewer_jwt": reviewerJWT,
	}
	logins := map[string]*vault.SecretAuth{}
	for _, name := range o.targets {
		t := targets.ByName[name]
		if t.Kind == targets.KindTokenCreate {
			continue
		}
		if t.Kind != targets.KindNoop {
			if err := writeMountConfig(ctx, admin, t, config, roleFor(o, t)); err != nil {
				return nil, err
			}
		}
		auth, err := firstLogin(ctx, o, env, t)
		if err != nil {
			return nil, err
		}
		logins[name] = auth
		env.tokenKind[name] = tokenKind(auth.ClientToken)
		progress.Printf("auth/%s: login OK (%s token, policies %v, metadata %v)", t.Mount, env.tokenKind[name], auth.TokenPolicies, auth.Metadata)
		if env.tokenKind[name] != "batch" {
			env.notes.Add("auth/%s issued a %s token, not a batch token", t.Mount, env.tokenKind[name])
		}
	}
	compareLogins(env, logins)

	if o.wants(targets.TokenCreate) {
		// The floor copies a kubernetes login's policies and metadata.
		var model *vault.SecretAuth
		for _, name := range []string{targets.Builtin, targets.PluginAlways, targets.Upstream, targets.Noop} {
			if model = logins[name]; model != nil {
				break
			}
		}
		if err := setupFloor(ctx, o, env, model); err != nil {
			return nil, fmt.Errorf("token-create: %w", err)
		}
	}
	if err := setupPool(ctx, o, env); err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return env, nil
}

// roleFor is the role written to a target's mount: the same for every
// kubernetes method (every workload account of the namespace, audience
// vault, batch tokens), plus the review fields of this plugin's modes.
func roleFor(o *options, t targets.Target) map[string]any {
	role := map[string]any{
		"bound_service_account_names":      fixture.WorkloadSAPrefix + "*",
		"bound_service_account_namespaces": fixture.Namespace,
		"audience":                         fixture.Audience,
		"token_policies":                   fixture.WorkloadPolicy,
		"token_ttl":                        int(fixture.TokenTTL.Seconds()),
		"token_type":                       fixture.TokenType,
	}
	switch t.ReviewMode {
	case "":
	case "cached":
		role["review_mode"] = t.ReviewMode
		role["review_cache_ttl"] = int(o.reviewCacheTTL.Seconds())
	default:
		role["review_mode"] = t.ReviewMode
		role["review_cache_ttl"] = int(o.reviewCacheTTL.Seconds())
		role["local_max_token_age"] = int(o.localMaxTokenAge.Seconds())
	}
	return role
}

// mountTargets registers the external plugins the targets need (each
// binary copied into Vault's plugin directory, with its sha256) and mounts
// every target afresh.
func mountTargets(ctx context.Context, o *options, env *benchEnv) error {
	if o.wantsKind(targets.KindPlugin) {
		var envVars []string
		if len(o.profiles) > 0 {
			addr, err := freeLoopbackAddr()
			if err != nil {
				return err
			}
			env.pprofAddr = addr
			envVars = append(envVars, pprofEnv+"="+addr)
		}
		if err := registerPlugin(ctx, o, env, o.pluginBin, o.pluginName, o.pluginVersion, envVars); err != nil {
			return err
		}
	}
	if o.wantsKind(targets.KindUpstream) {
		if err := registerPlugin(ctx, o, env, o.upstreamBin, upstreamName, o.upstreamVersion, nil); err != nil {
			return err
		}
	}
	if o.wantsKind(targets.KindNoop) {
		// Unversioned: the no-op plugin reports no version.
		if err := registerPlugin(ctx, o, env, o.noopBin, noopName, "", nil); err != nil {
			return err
		}
	}
	for _, name := range o.targets {
		t := targets.ByName[name]
		in := &vault.MountInput{Description: "loginbench: " + t.Label}
		switch t.Kind {
		case targets.KindTokenCreate:
			continue
		case targets.KindBuiltin:
			in.Type = "kubernetes"
		case targets.KindPlugin:
			in.Type, in.Config.PluginVersion = o.pluginName, o.pluginVersion
		case targets.KindUpstream:
			in.Type, in.Config.PluginVersion = upstreamName, o.upstreamVersion
		case targets.KindNoop:
			in.Type = noopName
		}
		if err := remount(ctx, env.admin, t.Mount, in); err != nil {
			return err
		}
		out, err := env.admin.Sys().GetAuthWithContext(ctx, t.Mount)
		if err != nil {
			return fmt.Errorf("read sys/auth/%s: %w", t.Mount, err)
		}
		if t.Kind == targets.KindBuiltin {
			env.builtinVersion = out.RunningVersion
			continue
		}
		// What Vault says is running must be the binary just registered,
		// not a leftover of an earlier run.
		if want := env.sha256[in.Type]; out.RunningSha256 != want {
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
func registerPlugin(ctx context.Context, o *options, env *benchEnv, bin, name, version string, envVars []string) error {
	sum, err := installBinary(bin, filepath.Join(o.pluginDir, name))
	if err != nil {
		return err
	}
	err = env.admin.Sys().RegisterPluginWithContext(ctx, &vault.RegisterPluginInput{
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
	env.sha256[name] = sum
	progress.Printf("registered %s %s (sha256 %s)%s", name, orDash(version), sum, strings.Join(append([]string{""}, envVars...), " "))
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

// firstLogin proves the mount works before anything is timed. It retries for
// a few seconds because the API server's RBAC authorizer learns about the
// reviewer's fresh ClusterRoleBinding from a watch, not synchronously.
func firstLogin(ctx context.Context, o *options, env *benchEnv, t targets.Target) (*vault.SecretAuth, error) {
	c, err := env.load.Conn.Client("")
	if err != nil {
		return nil, err
	}
	body := map[string]any{"role": fixture.RoleName, "jwt": env.load.Tokens.Repeat[0]}
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := c.Logical().WriteWithContext(ctx, t.LoginPath(), body)
		if err == nil {
			err = load.CheckIssued(s)
		}
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
func compareLogins(env *benchEnv, logins map[string]*vault.SecretAuth) {
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
			env.notes.Add("token policies differ: %s %v, builtin %v", name, got.TokenPolicies, ref.TokenPolicies)
		}
		if name == targets.Noop {
			if !slices.Equal(sortedKeys(got.Metadata), sortedKeys(ref.Metadata)) {
				env.notes.Add("token metadata keys differ: %s %v, builtin %v", name, sortedKeys(got.Metadata), sortedKeys(ref.Metadata))
			}
		} else if md, note := comparableMetadata(targets.ByName[name], got.Metadata); note != "" {
			env.notes.Add("%s", note)
		} else if !maps.Equal(md, ref.Metadata) {
			env.notes.Add("token metadata differ: %s %v, builtin %v", name, got.Metadata, ref.Metadata)
		}
		if got.LeaseDuration != ref.LeaseDuration || got.Renewable != ref.Renewable {
			env.notes.Add("token lease differs: %s %ds renewable=%v, builtin %ds renewable=%v",
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

// setupFloor creates the tokens that issue token-create's tokens: each
// client already holds a token whose only right is to create tokens, as a
// service that hands out tokens would. One issuing token
// per client, as every login client presents its own JWT
// (-floor-shared-token gives all clients the same one). The tokens issued
// are batch tokens, like the logins', unless Vault refuses that.
func setupFloor(ctx context.Context, o *options, env *benchEnv, login *vault.SecretAuth) error {
	if login == nil {
		return errors.New("no login on a kubernetes mount to copy policies and metadata from")
	}
	n := o.maxClients()
	if o.floorShared {
		n = 1
	}
	for range n {
		// Only the issuer policy, without "default": Vault's default policy
		// is templated, so every request made with a token that holds it
		// re-parses its HCL to build the ACL, twice for a token/create with
		// no_parent (the token check, then the sudo check). That is the
		// cost of the issuing token, not of issuing a token: with it, Vault
		// spent 0.85 ms of CPU per request (more than the 0.33 ms of a whole
		// no-op login), without it 0.24 ms. The sudo the issuer policy
		// grants lifts the rule that a child's policies be a subset of its
		// parent's.
		parent, err := env.admin.Auth().Token().CreateWithContext(ctx, &vault.TokenCreateRequest{
			Policies:        []string{issuerPolicy},
			NoDefaultPolicy: true,
			TTL:             "24h",
			DisplayName:     "loginbench-floor",
		})
		if err == nil {
			err = load.CheckIssued(parent)
		}
		if err != nil {
			return fmt.Errorf("issuing token: %w", err)
		}
		env.load.Tokens.FloorTokens = append(env.load.Tokens.FloorTokens, parent.Auth.ClientToken)
	}

	var policies []string
	for _, p := range login.TokenPolicies {
		// "default" is attached by token/create on its own, as it is on login.
		if p != "default" {
			policies = append(policies, p)
		}
	}
	env.load.Tokens.FloorBody = map[string]any{
		"policies": policies,
		"meta":     login.Metadata,
		"ttl":      fixture.TokenTTL.String(),
		"type":     fixture.TokenType,
	}
	if !o.floorChild {
		// A login's token has no parent; a child token costs Vault an extra
		// parent lookup (and, for a service token, a parent-index write)
		// per issue, which would raise the floor above what a login pays.
		env.load.Tokens.FloorBody["no_parent"] = true
	}
	// One request outside the timing, as for the logins.
	c, err := env.load.Conn.Client(env.load.Tokens.FloorTokens[0])
	if err != nil {
		return err
	}
	s, err := c.Logical().WriteWithContext(ctx, "auth/token/create", env.load.Tokens.FloorBody)
	if err == nil {
		err = load.CheckIssued(s)
	}
	if err != nil {
		// Batch tokens may be refused for this kind of request; measure
		// service tokens then, and say so.
		env.notes.Add("auth/token/create refused a %s token (%s); token-create issues service tokens instead", fixture.TokenType, load.ShortErr(err))
		delete(env.load.Tokens.FloorBody, "type")
		s, err = c.Logical().WriteWithContext(ctx, "auth/token/create", env.load.Tokens.FloorBody)
		if err == nil {
			err = load.CheckIssued(s)
		}
		if err != nil {
			return fmt.Errorf("auth/token/create: %w", err)
		}
	}
	env.tokenKind[targets.TokenCreate] = tokenKind(s.Auth.ClientToken)
	progress.Printf("auth/token/create: OK (%s token, policies %v, metadata %v)", env.tokenKind[targets.TokenCreate], s.Auth.TokenPolicies, s.Auth.Metadata)
	return nil
}
