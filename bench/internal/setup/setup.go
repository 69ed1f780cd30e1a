// Package setup prepares one Vault and one kube-apiserver for loginbench:
// the reviewer and the workload service accounts with their tokens, every
// target mounted afresh with its config and role and proved by one login,
// token-create's issuing tokens, and the distinct workload's token pool.
package setup

import (
	"cmp"
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
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// Catalog names (and plugin file names) of the two plugins that are not
// this project's; this plugin's is -plugin-name.
const (
	UpstreamName = "vault-plugin-auth-kubernetes-upstream"
	NoopName     = "kubeauth-bench-noop"
)

// Vault policies the benchmark writes.
const issuerPolicy = "kubeauth-bench-issuer"

// pprofEnv is the plugin's KUBEAUTH_PPROF_ADDR: where it serves its
// profiling endpoints when registered with it.
const pprofEnv = "KUBEAUTH_PPROF_ADDR"

// Stack is what setup prepared for the measurement. Each part goes to
// the package that needs it: Load to the runs, Kube and PluginFiles to the
// instruments, Facts to the report.
type Stack struct {
	Admin *vault.Client // the operator's token: setup and profiles only
	Load  *load.Loader  // the connection to Vault and the tokens the runs present
	Kube  kubernetes.Interface
	Facts Facts
	// PluginFiles names the file each external target's plugin process runs.
	PluginFiles map[targets.Kind]string
	PprofAddr   string // this plugin's profiling endpoints; "" when it serves none
	OutDir      string // where profiles go
	// TokensMinted is when the first workload token was requested; hybrid
	// mode verifies a token locally only while it is younger than the
	// role's local_max_token_age.
	TokensMinted time.Time
}

// Facts are what setup found out that the report states.
type Facts struct {
	VaultVersion   string
	KubeVersion    string
	BuiltinVersion string            // the version Vault reports for the built-in mount
	SHA256         map[string]string // plugin catalog name -> sha256 registered
	TokenKind      map[string]string // target -> "batch" or "service", from its first token
	Pool           PoolStats
}

// builder prepares one Stack from one Config; notes collects what the
// report must mention.
type builder struct {
	cfg   Config
	st    *Stack
	notes *progress.Notes
}

// Prepare mounts every target afresh on Vault, creates what the workloads
// need in Kubernetes, proves every mount with one login and, last, creates
// the distinct workload's token pool.
func Prepare(ctx context.Context, cfg Config, notes *progress.Notes) (*Stack, error) {
	b := &builder{cfg: cfg, notes: notes, st: &Stack{
		Load: &load.Loader{
			Conn:   load.Conn{Addr: cfg.Vault.Addr, Timeout: cfg.Vault.Timeout, Transport: load.NewTransport(cfg.Clients)},
			Tokens: &load.Tokens{},
		},
		Facts: Facts{SHA256: map[string]string{}, TokenKind: map[string]string{}},
		PluginFiles: map[targets.Kind]string{
			targets.KindPlugin: cfg.Plugins.Name, targets.KindUpstream: UpstreamName, targets.KindNoop: NoopName,
		},
	}}
	if err := b.connectVault(ctx); err != nil {
		return nil, err
	}
	if err := b.makeOutDir(); err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(cfg.Kube.CAFile)
	if err != nil {
		return nil, fmt.Errorf("kubernetes CA: %w", err)
	}
	reviewerJWT, err := b.prepareKube(ctx)
	if err != nil {
		return nil, err
	}
	if err := writePolicies(ctx, b.st.Admin); err != nil {
		return nil, err
	}
	if err := b.mountTargets(ctx); err != nil {
		return nil, err
	}
	logins, err := b.configureAndLogin(ctx, map[string]any{
		"kubernetes_host":    cfg.Kube.Host,
		"kubernetes_ca_cert": string(caPEM),
		"token_reviewer_jwt": reviewerJWT,
	})
	if err != nil {
		return nil, err
	}
	b.compareLogins(logins)
	if err := b.prepareFloor(ctx, logins); err != nil {
		return nil, err
	}
	if err := b.setupPool(ctx); err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return b.st, nil
}

// connectVault makes the operator's client and reads Vault's version.
func (b *builder) connectVault(ctx context.Context) error {
	admin, err := b.st.Load.Conn.Client(b.cfg.Vault.Token)
	if err != nil {
		return err
	}
	b.st.Admin = admin
	health, err := admin.Sys().HealthWithContext(ctx)
	if err != nil {
		return fmt.Errorf("vault at %s: %w", b.cfg.Vault.Addr, err)
	}
	b.st.Facts.VaultVersion = health.Version
	return nil
}

// makeOutDir makes the directory profiles go to, a temporary one when
// profiles are taken and -out-dir is not given.
func (b *builder) makeOutDir() error {
	var err error
	if b.st.OutDir = b.cfg.OutDir; b.st.OutDir == "" && b.cfg.ServePprof {
		if b.st.OutDir, err = os.MkdirTemp("", "loginbench-"); err != nil {
			return err
		}
	}
	if b.st.OutDir != "" {
		return os.MkdirAll(b.st.OutDir, 0o755)
	}
	return nil
}

// prepareKube connects to the API server and creates the reviewer, the
// workload accounts and the repeat tokens; it returns the reviewer's JWT.
func (b *builder) prepareKube(ctx context.Context) (string, error) {
	var err error
	if b.st.Kube, err = b.newKubeClient(); err != nil {
		return "", fmt.Errorf("kubernetes client: %w", err)
	}
	start := time.Now()
	b.st.TokensMinted = start
	reviewerJWT, err := b.setupKube(ctx)
	if err != nil {
		return "", fmt.Errorf("kubernetes: %w", err)
	}
	progress.Printf("kubernetes %s: reviewer %s/%s (system:auth-delegator), %d workload service accounts %s*, %d repeat tokens in %s",
		b.st.Facts.KubeVersion, fixture.Namespace, reviewerSA, b.cfg.Accounts.ServiceAccounts, fixture.WorkloadSAPrefix, len(b.st.Load.Tokens.Repeat),
		time.Since(start).Round(time.Second))
	return reviewerJWT, nil
}

// configureAndLogin writes config (the same on every kubernetes mount)
// and the role, and logs in once on every mount; it returns each target's
// first login.
func (b *builder) configureAndLogin(ctx context.Context, config map[string]any) (map[string]*vault.SecretAuth, error) {
	logins := map[string]*vault.SecretAuth{}
	for _, name := range b.cfg.Targets {
		t := targets.ByName[name]
		if t.Kind == targets.KindTokenCreate {
			continue
		}
		if t.Kind != targets.KindNoop {
			if err := writeMountConfig(ctx, b.st.Admin, t, config, targets.Role(t, b.cfg.Role)); err != nil {
				return nil, err
			}
		}
		auth, err := b.firstLogin(ctx, t)
		if err != nil {
			return nil, err
		}
		logins[name] = auth
		b.recordTokenKind(t, auth)
	}
	return logins, nil
}

// recordTokenKind keeps the kind of token t's first login issued, and notes
// one that is not a batch token.
func (b *builder) recordTokenKind(t targets.Target, auth *vault.SecretAuth) {
	kind := tokenKind(auth.ClientToken)
	b.st.Facts.TokenKind[t.Name] = kind
	progress.Printf("auth/%s: login OK (%s token, policies %v, metadata %v)", t.Mount, kind, auth.TokenPolicies, auth.Metadata)
	if kind != "batch" {
		b.notes.Add("auth/%s issued a %s token, not a batch token", t.Mount, kind)
	}
}

// prepareFloor creates token-create's issuing tokens, when it is measured,
// from a kubernetes login's policies and metadata.
func (b *builder) prepareFloor(ctx context.Context, logins map[string]*vault.SecretAuth) error {
	if !b.cfg.wants(targets.TokenCreate) {
		return nil
	}
	var model *vault.SecretAuth
	for _, name := range []string{targets.Builtin, targets.PluginAlways, targets.Upstream, targets.Noop} {
		if model = logins[name]; model != nil {
			break
		}
	}
	if err := b.setupFloor(ctx, model); err != nil {
		return fmt.Errorf("token-create: %w", err)
	}
	return nil
}

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

// setupFloor creates the tokens that issue token-create's tokens: each
// client already holds a token whose only right is to create tokens, as a
// service that hands out tokens would. One issuing token
// per client, as every login client presents its own JWT
// (-floor-shared-token gives all clients the same one). The tokens issued
// are batch tokens, like the logins', unless Vault refuses that.
func (b *builder) setupFloor(ctx context.Context, login *vault.SecretAuth) error {
	if login == nil {
		return errors.New("no login on a kubernetes mount to copy policies and metadata from")
	}
	n := b.cfg.Clients
	if b.cfg.Floor.Shared {
		n = 1
	}
	tokens := b.st.Load.Tokens
	for range n {
		parent, err := b.issuingToken(ctx)
		if err != nil {
			return err
		}
		tokens.FloorTokens = append(tokens.FloorTokens, parent)
	}
	tokens.FloorBody = floorBody(login, b.cfg.Floor)
	s, err := b.firstFloorToken(ctx)
	if err != nil {
		return err
	}
	b.st.Facts.TokenKind[targets.TokenCreate] = tokenKind(s.Auth.ClientToken)
	progress.Printf("auth/token/create: OK (%s token, policies %v, metadata %v)", b.st.Facts.TokenKind[targets.TokenCreate], s.Auth.TokenPolicies, s.Auth.Metadata)
	return nil
}

// issuingToken creates one token whose only right is auth/token/create.
func (b *builder) issuingToken(ctx context.Context) (string, error) {
	// Only the issuer policy, without "default": Vault's default policy
	// is templated, so every request made with a token that holds it
	// re-parses its HCL to build the ACL, twice for a token/create with
	// no_parent (the token check, then the sudo check). That is the
	// cost of the issuing token, not of issuing a token: with it, Vault
	// spent 0.85 ms of CPU per request (more than the 0.33 ms of a whole
	// no-op login), without it 0.24 ms. The sudo the issuer policy
	// grants lifts the rule that a child's policies be a subset of its
	// parent's.
	parent, err := b.st.Admin.Auth().Token().CreateWithContext(ctx, &vault.TokenCreateRequest{
		Policies:        []string{issuerPolicy},
		NoDefaultPolicy: true,
		TTL:             "24h",
		DisplayName:     "loginbench-floor",
	})
	if err == nil {
		err = load.CheckIssued(parent)
	}
	if err != nil {
		return "", fmt.Errorf("issuing token: %w", err)
	}
	return parent.Auth.ClientToken, nil
}

// floorBody is what token-create sends: the policies, metadata and TTL of
// a kubernetes login's token.
func floorBody(login *vault.SecretAuth, f Floor) map[string]any {
	var policies []string
	for _, p := range login.TokenPolicies {
		// "default" is attached by token/create on its own, as it is on login.
		if p != "default" {
			policies = append(policies, p)
		}
	}
	body := map[string]any{
		"policies": policies,
		"meta":     login.Metadata,
		"ttl":      fixture.TokenTTL.String(),
		"type":     fixture.TokenType,
	}
	if !f.Child {
		// A login's token has no parent; a child token costs Vault an extra
		// parent lookup (and, for a service token, a parent-index write)
		// per issue, which would raise the floor above what a login pays.
		body["no_parent"] = true
	}
	return body
}

// firstFloorToken issues one token outside the timing, as for the logins.
// Batch tokens may be refused for this kind of request; token-create then
// issues service tokens, and a note says so.
func (b *builder) firstFloorToken(ctx context.Context) (*vault.Secret, error) {
	tokens := b.st.Load.Tokens
	c, err := b.st.Load.Conn.Client(tokens.FloorTokens[0])
	if err != nil {
		return nil, err
	}
	s, err := load.Issue(ctx, c, "auth/token/create", tokens.FloorBody)
	if err == nil {
		return s, nil
	}
	b.notes.Add("auth/token/create refused a %s token (%s); token-create issues service tokens instead", fixture.TokenType, load.ShortErr(err))
	delete(tokens.FloorBody, "type")
	if s, err = load.Issue(ctx, c, "auth/token/create", tokens.FloorBody); err != nil {
		return nil, fmt.Errorf("auth/token/create: %w", err)
	}
	return s, nil
}
