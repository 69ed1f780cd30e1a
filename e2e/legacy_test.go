package e2e

import (
	"testing"

	"github.com/go-jose/go-jose/v4/jwt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// Legacy Secret-based tokens: the documented sample response still shows
// one (service_account_secret_name). With no token controller in the stack,
// the test does the controller's job: it signs the token with the
// apiserver's key and stores it in a service-account-token Secret, which is
// what the apiserver checks such a token against.

// legacyClaims are the flat claims of a Secret-based token.
type legacyClaims struct {
	jwt.Claims
	Namespace  string `json:"kubernetes.io/serviceaccount/namespace"`
	SecretName string `json:"kubernetes.io/serviceaccount/secret.name"`
	Name       string `json:"kubernetes.io/serviceaccount/service-account.name"`
	UID        string `json:"kubernetes.io/serviceaccount/service-account.uid"`
}

// legacyToken makes a token Secret for w and returns its token.
func legacyToken(t *testing.T, w realstack.Workload, secretName string) string {
	t.Helper()
	tok := signRS256(t, stk.SAKey, legacyClaims{
		Claims: jwt.Claims{
			Issuer:  "kubernetes/serviceaccount",
			Subject: "system:serviceaccount:" + w.Namespace + ":" + w.SA.Name,
		},
		Namespace:  w.Namespace,
		SecretName: secretName,
		Name:       w.SA.Name,
		UID:        string(w.SA.UID),
	})
	_, err := stk.Kube.CoreV1().Secrets(w.Namespace).Create(realstack.KubeCtx(t), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Annotations: map[string]string{
			corev1.ServiceAccountNameKey: w.SA.Name,
			corev1.ServiceAccountUIDKey:  string(w.SA.UID),
		}},
		Type: corev1.SecretTypeServiceAccountToken,
		Data: map[string][]byte{corev1.ServiceAccountTokenKey: []byte(tok)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating token secret %s/%s: %v", w.Namespace, secretName, err)
	}
	return tok
}

func TestLoginLegacySecretToken(t *testing.T) {
	t.Parallel()
	m := configuredMount(t)
	w := stk.NewWorkload(t, "legacy", nil)
	// Legacy tokens carry no audience, so only a role without one takes them.
	m.writeRole(t, "legacy", map[string]any{
		"bound_service_account_names":      w.SA.Name,
		"bound_service_account_namespaces": w.Namespace,
	})
	m.bindRole(t, "audience", w, nil)
	tok := legacyToken(t, w, "legacy-token-x7k2p")

	a := m.mustLogin(t, "legacy", tok)
	if got := a.StringMap("metadata")["service_account_secret_name"]; got != "legacy-token-x7k2p" {
		t.Errorf("service_account_secret_name = %q, want legacy-token-x7k2p", got)
	}
	realstack.ExpectDenied(t, m.login(t, "audience", tok))

	// Issuer validation on, with no issuer configured: the legacy issuer is
	// the default, so the legacy token passes and a projected one does not.
	m.configure(t, map[string]any{"disable_iss_validation": false})
	m.mustLogin(t, "legacy", tok)
	realstack.ExpectDenied(t, m.login(t, "legacy", mintToken(t, w.Namespace, w.SA.Name, realstack.TokenOptions{})))

	// The Secret is what makes the token valid: a token whose Secret is
	// gone (and that the apiserver has not reviewed yet) is refused.
	orphan := legacyToken(t, w, "legacy-token-q9w4z")
	if err := stk.Kube.CoreV1().Secrets(w.Namespace).Delete(realstack.KubeCtx(t), "legacy-token-q9w4z", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	realstack.ExpectDenied(t, m.login(t, "legacy", orphan))
}
