package kubeauth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// throwawayCA is a self-signed CA certificate that signs nothing the tests
// serve: trusting it alone fails verification.
func throwawayCA(t testing.TB) string {
	t.Helper()
	_, der, _ := testkit.SelfSigned(t, testkit.CATemplate(t, "throwaway test CA", time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	return testkit.PEM(der)
}

// podDir points the backend at a temporary pod service-account directory.
func (e *testEnv) podDir() string {
	dir := e.t.TempDir()
	e.b.localFiles = localFiles{dir: dir}
	return dir
}

// replaceFile swaps in new content with a rename, as the kubelet updates
// projected files: a reader sees the old file or the new one, never half.
func replaceFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// The pod's CA file is rotated: the next login trusts the new file, with no
// config write and no reload.
func TestPodCARotation(t *testing.T) {
	e := newTestEnv(t)
	caFile := filepath.Join(e.podDir(), "ca.crt")
	otherCA := throwawayCA(t)
	replaceFile(t, caFile, otherCA)
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"kubernetes_host": e.kube.srv.URL, "token_reviewer_jwt": testReviewer})
	e.writeRole(testRole, nil)
	token := e.token()
	resp, err := e.login(testRole, token)
	// The caller learns nothing; the log names the pod's CA file.
	e.requireKubeFault(resp, err, "failed TLS verification for the TokenReview (check the pod's CA file "+caFile)

	// The rotation adds the API server's CA next to the old one.
	replaceFile(t, caFile, otherCA+e.kube.caPEM)
	if resp, err := e.login(testRole, token); err != nil || resp.IsError() {
		t.Fatalf("login after the CA file gained the right CA: %v %#v", err, resp)
	}

	// And the old one is dropped again: each change is seen.
	replaceFile(t, caFile, otherCA)
	resp, err = e.login(testRole, token)
	e.requireKubeFault(resp, err, "failed TLS verification")
}

// A pod CA file that exists but cannot be read, or holds no certificates, is
// an error: not silently the system trust store. Nothing is stored.
func TestPodCAUnusable(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, caFile string)
		want  string
	}{
		{"a directory", func(t *testing.T, caFile string) {
			if err := os.Mkdir(caFile, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "cannot be read"},
		{"not PEM", func(t *testing.T, caFile string) { replaceFile(t, caFile, "not a certificate\n") }, "holds no usable CERTIFICATE block"},
		{"a public key", func(t *testing.T, caFile string) { replaceFile(t, caFile, testkit.Testdata(t, "signer.pub")) }, "holds no usable CERTIFICATE block"},
		{"empty", func(t *testing.T, caFile string) { replaceFile(t, caFile, "") }, "is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			caFile := filepath.Join(e.podDir(), "ca.crt")
			tc.setup(t, caFile)
			resp, err := e.do(logical.UpdateOperation, "config", map[string]any{"kubernetes_host": e.kube.srv.URL, "token_reviewer_jwt": testReviewer})
			requireBadRequest(t, resp, err, "the pod's CA file "+caFile)
			requireBadRequest(t, resp, err, tc.want)
			if e.rawEntry(configPath) != nil {
				t.Fatal("a config that cannot be used was stored")
			}
		})
	}
}

// The CA file breaks after the config was written: logins fail naming the
// file rather than carrying on with the old CA or the system roots.
func TestPodCABreaksAfterConfig(t *testing.T) {
	e := newTestEnv(t)
	caFile := filepath.Join(e.podDir(), "ca.crt")
	replaceFile(t, caFile, e.kube.caPEM)
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"kubernetes_host": e.kube.srv.URL, "token_reviewer_jwt": testReviewer})
	e.writeRole(testRole, nil)
	token := e.token()
	if resp, err := e.login(testRole, token); err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	replaceFile(t, caFile, "truncated -----BEGIN CERT")
	resp, err := e.login(testRole, token)
	e.requireFault(refusal.ErrInternalFault, resp, err, "the pod's CA file "+caFile)
	replaceFile(t, caFile, e.kube.caPEM)
	if resp, err := e.login(testRole, token); err != nil || resp.IsError() {
		t.Fatalf("login once the file is repaired: %v %#v", err, resp)
	}
}

// Outside a pod (no CA file) the system trust store is used, as before,
// and the write says so.
func TestPodCAMissing(t *testing.T) {
	e := newTestEnv(t)
	e.podDir()
	resp := e.mustDo(logical.UpdateOperation, "config", map[string]any{"kubernetes_host": e.kube.srv.URL, "token_reviewer_jwt": testReviewer})
	if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "system trust store") {
		t.Fatalf("want the system trust store warning, got %#v", resp)
	}
}
