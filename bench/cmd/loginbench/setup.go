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
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	vault "github.com/hashicorp/vault/api"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Names of everything the benchmark creates, in Kubernetes and in Vault.
const (
	benchNamespace = "kubeauth-bench"
	reviewerSA     = "vault-token-reviewer"
	workloadSA     = "bench-workload"
	reviewerCRB    = "kubeauth-bench-token-reviewer"
	workloadAud    = "vault"

	pluginMount  = "kubernetes" // the drop-in replacement sits where the built-in usually does
	builtinMount = "builtin"
	roleName     = "bench"

	workloadPolicy = "kubeauth-bench-workload"
	issuerPolicy   = "kubeauth-bench-issuer"

	// Long enough that no token issued during a run expires (and is revoked
	// by Vault in the background) before the process ends.
	issuedTTL = "1h"
)

// benchEnv is what setup prepared for the measurement.
type benchEnv struct {
	admin     *vault.Client // the operator's token: setup only
	transport *http.Transport

	// workloadJWTs are the service-account tokens the login clients present,
	// one per client so that no two concurrent logins share a token; the
	// plugin and the built-in method get exactly the same ones.
	workloadJWTs []string

	// floorTokens are non-root tokens whose only extra right is
	// auth/token/create, one per client; floorBody is what they send there:
	// the policies and metadata a login on the built-in mount returned.
	floorTokens []string
	floorBody   map[string]any

	vaultVersion  string
	kubeVersion   string
	pluginSHA256  string
	builtinPlugin string // version string Vault reports for the built-in mount
}

func setup(ctx context.Context, o *options) (*benchEnv, error) {
	env := &benchEnv{transport: newTransport(o.maxClients())}

	admin, err := newVaultClient(o, env.transport, o.vaultToken)
	if err != nil {
		return nil, err
	}
	env.admin = admin
	health, err := admin.Sys().HealthWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("vault at %s: %w", o.vaultAddr, err)
	}
	env.vaultVersion = health.Version

	caPEM, err := os.ReadFile(o.kubeCAFile)
	if err != nil {
		return nil, fmt.Errorf("kubernetes CA: %w", err)
	}

	reviewerJWT, err := setupKube(ctx, o, env)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	progress("kubernetes %s: service accounts %s/%s (reviewer, system:auth-delegator) and %s/%s, %d workload tokens (audience %q)",
		env.kubeVersion, benchNamespace, reviewerSA, benchNamespace, workloadSA, len(env.workloadJWTs), workloadAud)

	if err := writePolicies(ctx, admin); err != nil {
		return nil, err
	}

	config := map[string]any{
		"kubernetes_host":    o.kubeHost,
		"kubernetes_ca_cert": string(caPEM),
		"token_reviewer_jwt": reviewerJWT,
	}
	role := map[string]any{
		"bound_service_account_names":      workloadSA,
		"bound_service_account_namespaces": benchNamespace,
		"audience":                         workloadAud,
		"token_policies":                   workloadPolicy,
		"token_ttl":                        issuedTTL,
	}

	var logins = map[string]*vault.SecretAuth{}
	if o.wants(targetPlugin) {
		if err := mountPlugin(ctx, o, env); err != nil {
			return nil, fmt.Errorf("plugin: %w", err)
		}
	}
	if o.wants(targetBuiltin) || o.wants(targetFloor) {
		// The floor copies the built-in method's policies and metadata, so
		// the built-in mount is set up whenever the floor is measured.
		if err := remount(ctx, admin, builtinMount, &vault.MountInput{Type: "kubernetes", Description: "loginbench: Vault's built-in kubernetes auth"}); err != nil {
			return nil, fmt.Errorf("built-in: %w", err)
		}
	}
	for _, mount := range mountsFor(o) {
		if err := writeMountConfig(ctx, admin, mount, config, role); err != nil {
			return nil, err
		}
		auth, err := firstLogin(ctx, o, env, mount)
		if err != nil {
			return nil, err
		}
		logins[mount] = auth
		progress("auth/%s: login OK (policies %v, metadata %v)", mount, auth.TokenPolicies, auth.Metadata)
	}
	if p, b := logins[pluginMount], logins[builtinMount]; p != nil && b != nil {
		compareLogins(p, b)
	}
	if out, err := admin.Sys().GetAuthWithContext(ctx, builtinMount); err == nil {
		env.builtinPlugin = out.RunningVersion
	}
	if o.wants(targetPlugin) {
		// What Vault says is running must be the binary just registered,
		// not a leftover of an earlier run.
		out, err := admin.Sys().GetAuthWithContext(ctx, pluginMount)
		if err != nil {
			return nil, fmt.Errorf("read sys/auth/%s: %w", pluginMount, err)
		}
		if out.RunningSha256 != env.pluginSHA256 || out.RunningVersion != o.pluginVersion {
			return nil, fmt.Errorf("auth/%s runs %s sha256 %s, want %s sha256 %s",
				pluginMount, out.RunningVersion, out.RunningSha256, o.pluginVersion, env.pluginSHA256)
		}
	}

	if o.wants(targetFloor) {
		if err := setupFloor(ctx, o, env, logins[builtinMount]); err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
	}
	return env, nil
}

func mountsFor(o *options) []string {
	var m []string
	if o.wants(targetPlugin) {
		m = append(m, pluginMount)
	}
	if o.wants(targetBuiltin) || o.wants(targetFloor) {
		m = append(m, builtinMount)
	}
	return m
}

// newTransport keeps enough idle connections for every client: Go's default
// of two per host would make most requests open a new TCP connection and the
// benchmark would measure connection setup instead of logins.
func newTransport(clients int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4*clients + 8,
		MaxIdleConnsPerHost: 2*clients + 4,
		IdleConnTimeout:     2 * time.Minute,
	}
}

// newVaultClient returns a client with token (empty: none) that never retries:
// a retried 5xx would hide a failure and stretch the latency it was part of.
func newVaultClient(o *options, tr *http.Transport, token string) (*vault.Client, error) {
	cfg := vault.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("vault client config: %w", cfg.Error)
	}
	cfg.Address = o.vaultAddr
	cfg.HttpClient = &http.Client{
		Transport: tr,
		// The API client handles Vault's redirects itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	cfg.MaxRetries = 0
	cfg.Timeout = o.timeout
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	// NewClient picks up VAULT_TOKEN from the environment; logins must not
	// carry the operator's token.
	if token == "" {
		c.ClearToken()
	} else {
		c.SetToken(token)
	}
	return c, nil
}

// setupKube creates (or reuses) the service accounts and returns the reviewer's
// token; the workload tokens go into env.
func setupKube(ctx context.Context, o *options, env *benchEnv) (string, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return "", err
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	if v, err := kc.Discovery().ServerVersion(); err == nil {
		env.kubeVersion = v.GitVersion
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}
	if _, err := kc.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return "", fmt.Errorf("namespace: %w", err)
	}
	// No controller-manager runs in the stack: service accounts exist only
	// once created here.
	for _, name := range []string{reviewerSA, workloadSA} {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: benchNamespace}}
		if _, err := kc.CoreV1().ServiceAccounts(benchNamespace).Create(ctx, sa, metav1.CreateOptions{}); ignoreExists(err) != nil {
			return "", fmt.Errorf("service account %s: %w", name, err)
		}
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: reviewerCRB},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: reviewerSA, Namespace: benchNamespace}},
	}
	if _, err := kc.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return "", fmt.Errorf("cluster role binding: %w", err)
	}

	// No audiences: the reviewer's token is for the apiserver itself.
	reviewer, err := requestToken(ctx, kc, reviewerSA, nil, 24*time.Hour)
	if err != nil {
		return "", err
	}
	for range o.maxClients() {
		jwt, err := requestToken(ctx, kc, workloadSA, []string{workloadAud}, 2*time.Hour)
		if err != nil {
			return "", err
		}
		env.workloadJWTs = append(env.workloadJWTs, jwt)
	}
	return reviewer, nil
}

func requestToken(ctx context.Context, kc kubernetes.Interface, sa string, audiences []string, ttl time.Duration) (string, error) {
	secs := int64(ttl / time.Second)
	tr := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &secs}}
	out, err := kc.CoreV1().ServiceAccounts(benchNamespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s/%s: %w", benchNamespace, sa, err)
	}
	return out.Status.Token, nil
}

func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func writePolicies(ctx context.Context, admin *vault.Client) error {
	// What the workload's token may do is irrelevant to login cost; the
	// policy only has to exist so both methods attach the same one.
	policies := map[string]string{
		workloadPolicy: `path "secret/data/bench/*" { capabilities = ["read"] }`,
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

// mountPlugin copies the plugin into Vault's plugin directory, registers it
// with its checksum and version, and mounts it at auth/kubernetes.
func mountPlugin(ctx context.Context, o *options, env *benchEnv) error {
	sum, err := installBinary(o.pluginBin, filepath.Join(o.pluginDir, o.pluginName))
	if err != nil {
		return err
	}
	env.pluginSHA256 = sum
	err = env.admin.Sys().RegisterPluginWithContext(ctx, &vault.RegisterPluginInput{
		Name:    o.pluginName,
		Type:    vault.PluginTypeCredential,
		Command: o.pluginName,
		SHA256:  sum,
		Version: o.pluginVersion,
	})
	if err != nil {
		return fmt.Errorf("register %s %s: %w", o.pluginName, o.pluginVersion, err)
	}
	progress("registered %s %s (sha256 %s)", o.pluginName, o.pluginVersion, sum)
	return remount(ctx, env.admin, pluginMount, &vault.MountInput{
		Type:        o.pluginName,
		Config:      vault.MountConfigInput{PluginVersion: o.pluginVersion},
		Description: "loginbench: " + o.pluginName,
	})
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

func writeMountConfig(ctx context.Context, admin *vault.Client, mount string, config, role map[string]any) error {
	if _, err := admin.Logical().WriteWithContext(ctx, "auth/"+mount+"/config", config); err != nil {
		return fmt.Errorf("auth/%s/config: %w", mount, err)
	}
	if _, err := admin.Logical().WriteWithContext(ctx, "auth/"+mount+"/role/"+roleName, role); err != nil {
		return fmt.Errorf("auth/%s/role/%s: %w", mount, roleName, err)
	}
	return nil
}

// firstLogin proves the mount works before anything is timed. It retries for
// a few seconds because the apiserver's RBAC authorizer learns about the
// reviewer's fresh ClusterRoleBinding from a watch, not synchronously.
func firstLogin(ctx context.Context, o *options, env *benchEnv, mount string) (*vault.SecretAuth, error) {
	c, err := newVaultClient(o, env.transport, "")
	if err != nil {
		return nil, err
	}
	body := map[string]any{"role": roleName, "jwt": env.workloadJWTs[0]}
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := c.Logical().WriteWithContext(ctx, "auth/"+mount+"/login", body)
		if err == nil {
			err = checkIssued(s)
		}
		if err == nil {
			return s.Auth, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("first login on auth/%s: %w", mount, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkIssued is the success criterion for every timed request: a response
// that carries a client token.
func checkIssued(s *vault.Secret) error {
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return errors.New("response carries no client token")
	}
	return nil
}

// compareLogins warns when the two methods issue different tokens for the
// same login: the comparison is only fair if they do the same work.
func compareLogins(p, b *vault.SecretAuth) {
	if !slices.Equal(sortedCopy(p.TokenPolicies), sortedCopy(b.TokenPolicies)) {
		progress("WARNING: token policies differ: plugin %v, built-in %v", p.TokenPolicies, b.TokenPolicies)
	}
	if !maps.Equal(p.Metadata, b.Metadata) {
		progress("WARNING: token metadata differ: plugin %v, built-in %v", p.Metadata, b.Metadata)
	}
	if p.LeaseDuration != b.LeaseDuration || p.Renewable != b.Renewable {
		progress("WARNING: token lease differs: plugin %ds renewable=%v, built-in %ds renewable=%v",
			p.LeaseDuration, p.Renewable, b.LeaseDuration, b.Renewable)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// setupFloor creates the tokens that issue the floor's tokens: each client
// already holds a token with the workload's policy plus the right to create
// tokens, as a service that hands out tokens would. One issuing token per
// client, as every login client presents its own JWT (-floor-shared-token
// gives all clients the same one).
func setupFloor(ctx context.Context, o *options, env *benchEnv, login *vault.SecretAuth) error {
	if login == nil {
		return errors.New("no login on the built-in mount to copy policies and metadata from")
	}
	n := o.maxClients()
	if o.floorShared {
		n = 1
	}
	for range n {
		parent, err := env.admin.Auth().Token().CreateWithContext(ctx, &vault.TokenCreateRequest{
			Policies:    []string{workloadPolicy, issuerPolicy},
			TTL:         "24h",
			DisplayName: "loginbench-floor",
		})
		if err == nil {
			err = checkIssued(parent)
		}
		if err != nil {
			return fmt.Errorf("issuing token: %w", err)
		}
		env.floorTokens = append(env.floorTokens, parent.Auth.ClientToken)
	}

	var policies []string
	for _, p := range login.TokenPolicies {
		// "default" is attached by token/create on its own, as it is on login.
		if p != "default" {
			policies = append(policies, p)
		}
	}
	env.floorBody = map[string]any{
		"policies": policies,
		"meta":     login.Metadata,
		"ttl":      issuedTTL,
	}
	if !o.floorChild {
		// A login's token has no parent; a child token costs Vault an extra
		// parent lookup and a parent-index write per issue, which would
		// raise the floor above what a login has to pay.
		env.floorBody["no_parent"] = true
	}
	// One request outside the timing, as for the logins.
	c, err := newVaultClient(o, env.transport, env.floorTokens[0])
	if err != nil {
		return err
	}
	s, err := c.Logical().WriteWithContext(ctx, "auth/token/create", env.floorBody)
	if err == nil {
		err = checkIssued(s)
	}
	if err != nil {
		return fmt.Errorf("auth/token/create: %w", err)
	}
	progress("auth/token/create: OK (policies %v, metadata %v)", s.Auth.TokenPolicies, s.Auth.Metadata)
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
