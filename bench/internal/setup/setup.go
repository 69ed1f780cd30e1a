// Package setup prepares one Vault and one kube-apiserver for loginbench:
// the reviewer and the workload service accounts with their tokens, every
// target mounted afresh with its config and role and proved by one login,
// token-create's issuing tokens, and the distinct workload's token pool.
package setup

import (
	"context"
	"fmt"
	"os"
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
	// MountConfig is the config every kubernetes mount was given
	// (kubernetes_host, its CA, the reviewer's JWT), for mounts made later.
	MountConfig map[string]any
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
	b.st.MountConfig = map[string]any{
		"kubernetes_host":    cfg.Kube.Host,
		"kubernetes_ca_cert": string(caPEM),
		"token_reviewer_jwt": reviewerJWT,
	}
	logins, err := b.configureAndLogin(ctx, b.st.MountConfig)
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
