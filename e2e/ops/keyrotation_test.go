package ops

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// The API server's service-account signing key is rotated the way an
// operator does it: restarted with a new signing key, the old one still
// accepted for the tokens it signed. A role in hybrid mode verifies tokens
// signed with either, without a reload and without a single TokenReview:
// the plugin fetches the new key when a token first names its kid.
func TestHybridSigningKeyRotation(t *testing.T) {
	t.Parallel()
	api := newPrivateAPIServer(t, "keys", ops.privateKubePort(2))
	api.start(t)
	w := ops.NewWorkload(t, "app", nil)
	mount := faultMount(t, api.host(), api.caPEM, w)
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/role/app", map[string]any{"review_mode": "hybrid"})

	oldJWT := api.token(t, w)
	ops.Vault.MustLogin(t, mount, "app", oldJWT)
	keysFetched := time.Now()
	oldKid := tokenKid(t, oldJWT)

	// Rotate: a new signing key; the old public key stays among the keys
	// the API server accepts (and publishes).
	api.stop()
	api.rotateSigningKey(t)
	api.start(t)
	if got := api.tokenReviews(t); got != 0 {
		t.Fatalf("the restarted apiserver counts %v TokenReviews before any login", got)
	}
	newJWT := api.token(t, w)
	newKid := tokenKid(t, newJWT)
	if newKid == oldKid {
		t.Fatalf("the rotated apiserver signs with the old key (kid %s)", oldKid)
	}
	// The plugin refetches the keys for an unknown kid at most every 5 s.
	if wait := 6*time.Second - time.Since(keysFetched); wait > 0 {
		time.Sleep(wait)
	}
	for _, jwt := range []string{newJWT, newJWT, oldJWT, api.token(t, w)} {
		ops.Vault.MustLogin(t, mount, "app", jwt)
	}
	if got := api.tokenReviews(t); got != 0 {
		t.Fatalf("hybrid logins with young tokens made %v TokenReviews at the apiserver, want none", got)
	}
	t.Logf("tokens signed with the old key %s and the rotated key %s logged in without a TokenReview", oldKid, newKid)

	// The count is real: a login in always mode shows in it.
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/role/app", map[string]any{"review_mode": "always"})
	ops.Vault.MustLogin(t, mount, "app", newJWT)
	if got := api.tokenReviews(t); got < 1 {
		t.Fatalf("after a login in always mode the apiserver counts %v TokenReviews", got)
	}
}

// token mints a one-hour token for the "vault" audience through this
// apiserver, so it is signed with this apiserver's current key.
func (a *privateAPIServer) token(t *testing.T, w realstack.Workload) string {
	t.Helper()
	secs := int64(3600)
	tr, err := a.client(t).CoreV1().ServiceAccounts(w.Namespace).CreateToken(realstack.KubeCtx(t), w.SA.Name,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{"vault"}, ExpirationSeconds: &secs}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest at kube-apiserver %s: %v", a.name, err)
	}
	return tr.Status.Token
}

// client is an admin client of this apiserver.
func (a *privateAPIServer) client(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	c, err := kubernetes.NewForConfig(&rest.Config{
		Host: a.host(),
		TLSClientConfig: rest.TLSClientConfig{
			CertFile: ops.AdminCert, KeyFile: ops.AdminKey, CAData: []byte(a.caPEM),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tokenReviews is the number of TokenReviews this apiserver has served
// since it started (apiserver_request_total for tokenreviews, all codes).
func (a *privateAPIServer) tokenReviews(t *testing.T) float64 {
	t.Helper()
	body, err := a.client(t).RESTClient().Get().AbsPath("/metrics").DoRaw(realstack.KubeCtx(t))
	if err != nil {
		t.Fatalf("reading the metrics of kube-apiserver %s: %v", a.name, err)
	}
	var total float64
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="tokenreviews"`) {
			continue
		}
		n, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		total += n
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// rotateSigningKey gives the (stopped) apiserver a new signing key and adds
// its public key to the keys it accepts; the old public key stays.
func (a *privateAPIServer) rotateSigningKey(t *testing.T) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := filepath.Join(a.dir, "sa-rotated.key"), filepath.Join(a.dir, "sa-rotated.pub")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		t.Fatal(err)
	}
	args, err := withRotatedSigningKey(a.args, keyFile, pubFile)
	if err != nil {
		t.Fatal(err)
	}
	a.args = args
}

// withRotatedSigningKey replaces the --service-account-signing-key-file of
// an apiserver's argv and adds a --service-account-key-file.
func withRotatedSigningKey(args []string, keyFile, pubFile string) ([]string, error) {
	out := make([]string, 0, len(args)+2)
	replaced := false
	for i := 0; i < len(args); i++ {
		name, _, inline := strings.Cut(args[i], "=")
		if name != "--service-account-signing-key-file" {
			out = append(out, args[i])
			continue
		}
		if !inline {
			i++ // the value is the next word
		}
		out = append(out, "--service-account-signing-key-file="+keyFile)
		replaced = true
	}
	if !replaced {
		return nil, errNoSigningKeyFlag
	}
	return append(out, "--service-account-key-file="+pubFile), nil
}

var errNoSigningKeyFlag = errors.New("the apiserver's command line has no --service-account-signing-key-file")

// tokenKid is the kid in a token's header.
func tokenKid(t *testing.T, jwt string) string {
	t.Helper()
	tok, err := jose.ParseSignedCompact(jwt, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Signatures[0].Header.KeyID
}
