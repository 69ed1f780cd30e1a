package soak

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// The soak's names: the mount, the plugin's catalog name and the Kubernetes
// objects of cluster A (the HA pair) and of cluster B (the stack's).
const (
	mount       = "soak"
	catalogName = "kubeauth-soak"
	appNS       = "soak-app"   // bound by the roles; labeled for the selector role
	otherNS     = "soak-other" // a namespace no role binds
	bNS         = "soak-b"
	saName      = "app"
	boundPod    = "app-0" // the pod the pod role binds
	otherPod    = "app-1" // a pod of the same account the pod role does not bind
)

// env is the soak's system under test and what it knows of it.
type env struct {
	dir       string
	vault     *soakVault
	pluginExe string // the plugin file in the soak Vault's plugin directory: its processes' exe
	pprofAddr string // where the plugin process serves its goroutine profile

	a     *realstack.Cluster      // cluster A's first API server and its files
	peer  *realstack.APIServer    // cluster A's second API server
	aKube []*kubernetes.Clientset // admins of A's two API servers, trusting both serving CAs
	bKube *kubernetes.Clientset

	appSA, otherSA, bSA *corev1.ServiceAccount
	pods                map[string]*corev1.Pod

	// keys are cluster A's signing keys by generation; gen 1 is made at
	// setup and rolled out by the key-rotation fault.
	keys map[int]*rsa.PrivateKey
	kids map[string]int // kid -> generation

	// newCA, newCert, newKey are cluster A's next serving CA and
	// certificate, rolled out by the ca-rotation fault.
	newCA, newCert, newKey []byte

	mu        sync.Mutex
	keyStates map[int]KeyState // cluster A's key generations, as the faults moved them
	signGen   int              // the generation the soak signs its own tokens with
	caPEM     string           // the CA bundle the mount's config holds for cluster A
	reviewer  string           // the reviewer token the mount's config holds for cluster A

	// configMu serializes the writes of config: the ca-rotation fault's and
	// the mix's.
	configMu sync.Mutex
}

// setUpEnv starts cluster A (two API servers on one etcd prefix) beside the
// stack's apiserver (cluster B), the soak Vault with the plugin, and writes
// the mount, its clusters, roles and the workloads.
func setUpEnv(ctx context.Context) (*env, error) {
	e := &env{dir: filepath.Join(stk.StackDir, "soak"), pods: map[string]*corev1.Pod{}, kids: map[string]int{}}
	if err := os.RemoveAll(e.dir); err != nil {
		return nil, err
	}
	var err error
	if e.a, err = stk.StartCluster(ctx, realstack.ClusterOptions{Name: "soak-a", Port: stk.KubePort + 1, Issuer: "https://soak-a.kubeauth.test"}); err != nil {
		return nil, err
	}
	if e.peer, err = e.a.StartPeer(ctx, stk.KubePort+2); err != nil {
		return nil, err
	}
	if err := e.makeNextKeys(); err != nil {
		return nil, err
	}
	for _, host := range []string{e.a.Host, e.peer.Host} {
		kube, err := e.a.AdminTrusting(host, e.newCA)
		if err != nil {
			return nil, err
		}
		e.aKube = append(e.aKube, kube)
	}
	e.bKube = stk.Kube
	if err := e.createWorkloads(ctx); err != nil {
		return nil, err
	}
	if err := e.startVault(ctx); err != nil {
		return nil, err
	}
	return e, e.writeMount(ctx)
}

// makeNextKeys makes cluster A's second signing key and its next serving
// CA and certificate, and records generation 0 as verified by both API
// servers from now.
func (e *env) makeNextKeys() error {
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return err
	}
	next, _, _, err := realstack.NewSigningKey()
	if err != nil {
		return err
	}
	e.keys = map[int]*rsa.PrivateKey{0: e.a.SAKey, 1: next}
	for gen, k := range e.keys {
		kid, err := keyID(&k.PublicKey)
		if err != nil {
			return err
		}
		e.kids[kid] = gen
	}
	e.keyStates = map[int]KeyState{0: {AllVerify: time.Now()}}
	e.caPEM, e.reviewer = e.a.CA, e.a.ReviewerJWT
	e.newCA, e.newCert, e.newKey, err = realstack.NewServingCert("kubeauth cluster soak-a serving CA 2", "kube-apiserver-soak-a")
	return err
}

// keyID is the kid the API server gives a public key: the unpadded
// base64url SHA-256 of its PKIX encoding.
func keyID(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// createWorkloads creates the namespaces, service accounts, a node and two
// pods in cluster A, and the workload of cluster B.
func (e *env) createWorkloads(ctx context.Context) error {
	var err error
	if e.appSA, err = createWorkload(ctx, e.aKube[0], appNS, map[string]string{"soak": "selected"}); err != nil {
		return err
	}
	if e.otherSA, err = createWorkload(ctx, e.aKube[0], otherNS, nil); err != nil {
		return err
	}
	if e.bSA, err = createWorkload(ctx, e.bKube, bNS, nil); err != nil {
		return err
	}
	if _, err := e.aKube[0].CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "soak-node"}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating node soak-node: %w", err)
	}
	for _, name := range []string{boundPod, otherPod} {
		pod, err := e.aKube[0].CoreV1().Pods(appNS).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				ServiceAccountName: saName, NodeName: "soak-node",
				Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating pod %s: %w", name, err)
		}
		e.pods[name] = pod
	}
	return nil
}

func createWorkload(ctx context.Context, kube kubernetes.Interface, ns string, labels map[string]string) (*corev1.ServiceAccount, error) {
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels},
	}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	sa, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: saName},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating service account %s/%s: %w", ns, saName, err)
	}
	return sa, nil
}

// startVault starts the soak Vault, initializes and unseals it, and
// registers the plugin with its profiling endpoint on (goroutine counts).
func (e *env) startVault(ctx context.Context) error {
	pluginDir := filepath.Join(e.dir, "plugins")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		return err
	}
	sha, err := realstack.InstallPlugin(stk.PluginBin, pluginDir, catalogName)
	if err != nil {
		return err
	}
	e.pluginExe = filepath.Join(pluginDir, catalogName)
	e.pprofAddr = fmt.Sprintf("127.0.0.1:%d", stk.VaultPort+9)
	if e.vault, err = newSoakVault(filepath.Join(e.dir, "vault"), pluginDir, stk.VaultPort+2); err != nil {
		return err
	}
	if err := e.vault.start(ctx); err != nil {
		return err
	}
	if err := e.vault.initialize(ctx); err != nil {
		return err
	}
	if err := e.vault.unseal(ctx); err != nil {
		return err
	}
	return e.must(ctx, http.MethodPut, "sys/plugins/catalog/auth/"+catalogName, map[string]any{
		"sha256": sha, "command": catalogName, "env": []string{"KUBEAUTH_PPROF_ADDR=" + e.pprofAddr},
	})
}

// roles are the mount's roles: each review mode, a namespace selector and
// a pod binding on cluster A, and a role of cluster B. Their models are what
// the oracle needs of them.
var roles = map[string]RoleModel{
	"always":   {Mode: ModeAlways},
	"cached":   {Mode: ModeCached, ReviewCacheTTL: 10 * time.Second},
	"hybrid":   {Mode: ModeHybrid, LocalMaxAge: 2 * time.Minute},
	"selector": {Mode: ModeAlways},
	"pod":      {Mode: ModeAlways},
	"b":        {Mode: ModeAlways},
}

// roleBody is the body written for a role; ttl varies with the mix's
// rewrites and changes no login's answer.
func roleBody(name, ttl string) map[string]any {
	body := map[string]any{"bound_service_account_names": []string{saName}, "audience": "vault", "token_ttl": ttl, "token_policies": []string{"default"}}
	switch name {
	case "always", "pod":
		body["bound_service_account_namespaces"] = []string{appNS}
		body["review_mode"] = "always"
	case "cached":
		body["bound_service_account_namespaces"] = []string{appNS}
		body["review_mode"], body["review_cache_ttl"] = "cached", "10s"
	case "hybrid":
		body["bound_service_account_namespaces"] = []string{appNS}
		body["review_mode"], body["local_max_token_age"] = "hybrid", "2m"
	case "selector":
		body["bound_service_account_namespace_selector"] = `{"matchLabels":{"soak":"selected"}}`
		body["review_mode"] = "always"
	case "b":
		body["bound_service_account_namespaces"] = []string{bNS}
		body["bound_clusters"] = []string{"b"}
	}
	if name == "pod" {
		body["bound_pod_names"] = []string{boundPod}
	}
	return body
}

// configBody is the mount's config for cluster A: both API servers of the
// pair, the CA bundle and the reviewer token the soak holds now.
func (e *env) configBody() map[string]any {
	e.mu.Lock()
	ca, reviewer := e.caPEM, e.reviewer
	e.mu.Unlock()
	return e.a.ReviewerConfig(map[string]any{"kubernetes_hosts": []string{e.a.Host, e.peer.Host}, "kubernetes_ca_cert": ca, "token_reviewer_jwt": reviewer, "issuer": e.a.Issuer})
}

// bClusterBody is cluster/b: the stack's API server, its issuer set as an
// operator sets it (a login's cluster is chosen by its token's issuer).
func bClusterBody() map[string]any {
	return stk.ReviewerConfig(map[string]any{"issuer": stk.SAIssuer})
}

func (e *env) writeMount(ctx context.Context) error {
	if err := e.must(ctx, http.MethodPost, "sys/auth/"+mount, map[string]any{"type": catalogName}); err != nil {
		return err
	}
	if err := e.must(ctx, http.MethodPost, "auth/"+mount+"/config", e.configBody()); err != nil {
		return err
	}
	if err := e.must(ctx, http.MethodPost, "auth/"+mount+"/cluster/b", bClusterBody()); err != nil {
		return err
	}
	for name := range roles {
		if err := e.must(ctx, http.MethodPost, "auth/"+mount+"/role/"+name, roleBody(name, "10m")); err != nil {
			return err
		}
	}
	return nil
}

// must sends a request to the soak Vault as root and wants a 200 or 204.
func (e *env) must(ctx context.Context, method, path string, body any) error {
	r, err := e.vault.api.Do(ctx, realstack.HTTPClient, method, path, body)
	if err != nil {
		return err
	}
	if !r.OK() {
		return fmt.Errorf("%s", r)
	}
	return nil
}

// pluginPID is the running plugin process (0 when none): the process whose
// executable is the soak's plugin file. The newest wins while Vault replaces
// one.
func (e *env) pluginPID() int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	best := 0
	for _, d := range entries {
		var pid int
		if _, err := fmt.Sscan(d.Name(), &pid); err != nil {
			continue
		}
		if realstack.RunningExe(pid) == e.pluginExe && pid > best {
			best = pid
		}
	}
	return best
}
