package ops

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// projectedVolume lays files out the way the kubelet writes a projected
// service-account volume: the files live in a timestamped directory, "..data"
// points at it, and each name (token, ca.crt) points through "..data". An
// update writes a new directory and swaps "..data" with one rename, so a
// reader sees either all old or all new files, never half of each.
type projectedVolume struct {
	dir string
	gen int
}

func newProjectedVolume(t *testing.T) *projectedVolume {
	t.Helper()
	return &projectedVolume{dir: t.TempDir()}
}

func (v *projectedVolume) write(t *testing.T, files map[string]string) {
	t.Helper()
	v.gen++
	name := fmt.Sprintf("..%s.%d", time.Now().UTC().Format("2006_01_02_15_04_05"), v.gen)
	gen := filepath.Join(v.dir, name)
	if err := os.Mkdir(gen, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(gen, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.Readlink(filepath.Join(v.dir, "..data"))
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(name, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for f := range files {
		link := filepath.Join(v.dir, f)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", f), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(v.dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

// Vault runs in a pod: the config names only the API server, and the plugin
// takes the CA and its reviewer token from the pod's service-account files
// (KUBEAUTH_LOCAL_SA_DIR, here a temporary directory laid out as the
// kubelet does). The reviewer token is rotated, the old one made invalid;
// the next login uses the new token with no reload and no config write.
func TestInPodTokenRotation(t *testing.T) {
	t.Parallel()
	ctx := realstack.KubeCtx(t)
	vol := newProjectedVolume(t)
	podNS := ops.NewNamespace(t, nil)
	const podSA = "vault"
	if err := ops.CreateBoundServiceAccount(ctx, podNS, podSA); err != nil {
		t.Fatal(err)
	}
	// A pod's own token: the API server's default audience, as the kubelet
	// requests it.
	oldToken, err := ops.RequestToken(ctx, podNS, podSA, realstack.TokenOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	vol.write(t, map[string]string{"ca.crt": ops.KubeCA, "token": oldToken})

	e := installPlugin(t, ops.Vault, ops.PluginDir, "kubeauth-inpod", ops.plugin, "KUBEAUTH_LOCAL_SA_DIR="+vol.dir)
	mount := realstack.UniqueName(t, "k")
	enableAuth(t, ops.Vault, mount, e.name, e.version)
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/config", map[string]any{
		"kubernetes_host":      ops.KubeHost,
		"disable_local_ca_jwt": false,
	})
	cfg := ops.Vault.Must(t, http.MethodGet, "auth/"+mount+"/config", nil).Data()
	if cfg.Str("kubernetes_ca_cert") != "" || cfg["token_reviewer_jwt_set"] != false {
		t.Fatalf("config should leave the CA and reviewer JWT to the pod's files: %v", cfg)
	}
	w := ops.NewWorkload(t, "app", nil)
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/role/app", realstack.BindRole(w, nil))
	jwt := token(t, w)
	ops.Vault.MustLogin(t, mount, "app", jwt)

	// The pod's service account is deleted and recreated (a new UID): its
	// old token dies once the API server's 10 s authentication cache lets
	// go of it.
	if err := ops.Kube.CoreV1().ServiceAccounts(podNS).Delete(ctx, podSA, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ops.CreateBoundServiceAccount(ctx, podNS, podSA); err != nil {
		t.Fatal(err)
	}
	waitTokenDead(t, oldToken)
	r := ops.Vault.Login(t, mount, "app", jwt)
	expectFault(t, r, "refused the TokenReview with HTTP 401")
	t.Logf("with the dead token still in the pod's files: HTTP %d: %s", r.Status, r.ErrorText())

	newToken, err := ops.RequestToken(ctx, podNS, podSA, realstack.TokenOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	vol.write(t, map[string]string{"ca.crt": ops.KubeCA, "token": newToken})
	r = ops.Vault.Login(t, mount, "app", jwt)
	if r.Status != http.StatusOK {
		t.Fatalf("first login after the token file was rotated (no reload): want HTTP 200, got %s", r)
	}
}

// Vault runs in a pod and the cluster's CA is rotated: the pod's ca.crt is
// rewritten (kubelet style, one symlink swap) and the next login trusts the
// new file, with no reload and no config write. First the file holds only
// a CA that did not sign the API server's certificate (the login fails TLS
// verification, which shows the file was read again), then a bundle of that
// CA and the API server's (as during a rotation): the login succeeds.
func TestInPodCARotation(t *testing.T) {
	t.Parallel()
	ctx := realstack.KubeCtx(t)
	vol := newProjectedVolume(t)
	podNS := ops.NewNamespace(t, nil)
	const podSA = "vault"
	if err := ops.CreateBoundServiceAccount(ctx, podNS, podSA); err != nil {
		t.Fatal(err)
	}
	podToken, err := ops.RequestToken(ctx, podNS, podSA, realstack.TokenOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	otherCA, _, _, err := realstack.NewServingCert("in-pod rotated CA", "unused")
	if err != nil {
		t.Fatal(err)
	}
	vol.write(t, map[string]string{"ca.crt": ops.KubeCA, "token": podToken})

	e := installPlugin(t, ops.Vault, ops.PluginDir, "kubeauth-inpod-ca", ops.plugin, "KUBEAUTH_LOCAL_SA_DIR="+vol.dir)
	mount := realstack.UniqueName(t, "k")
	enableAuth(t, ops.Vault, mount, e.name, e.version)
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/config", map[string]any{"kubernetes_host": ops.KubeHost})
	w := ops.NewWorkload(t, "app", nil)
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/role/app", realstack.BindRole(w, nil))
	jwt := token(t, w)
	ops.Vault.MustLogin(t, mount, "app", jwt)

	vol.write(t, map[string]string{"ca.crt": string(otherCA), "token": podToken})
	r := ops.Vault.Login(t, mount, "app", jwt)
	expectFault(t, r, "kubernetes API at "+ops.KubeHost, "failed TLS verification for the TokenReview (check the pod's CA file "+filepath.Join(vol.dir, "ca.crt"))
	t.Logf("with only an unrelated CA in the pod's ca.crt: HTTP %d: %s", r.Status, r.ErrorText())

	vol.write(t, map[string]string{"ca.crt": string(otherCA) + ops.KubeCA, "token": podToken})
	if r := ops.Vault.Login(t, mount, "app", jwt); r.Status != http.StatusOK {
		t.Fatalf("first login after the CA file gained the API server's CA (no reload): want HTTP 200, got %s", r)
	}
}

// waitTokenDead waits until the API server no longer authenticates token.
func waitTokenDead(t *testing.T, token string) {
	t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		tr, err := ops.Kube.AuthenticationV1().TokenReviews().Create(ctx,
			&authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !tr.Status.Authenticated {
			t.Logf("old token rejected by the API server %v after its service account was recreated", time.Since(start).Round(100*time.Millisecond))
			return
		}
		if time.Since(start) > time.Minute {
			t.Fatal("the old token is still authenticated a minute after its service account was deleted")
		}
		time.Sleep(500 * time.Millisecond)
	}
}
