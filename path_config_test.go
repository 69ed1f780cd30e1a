package kubeauth

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

func TestConfigReadBeforeWrite(t *testing.T) {
	e := newTestEnv(t)
	resp, err := e.do(logical.ReadOperation, "config", nil)
	if err != nil || resp != nil {
		t.Fatalf("want no config, got resp=%#v err=%v", resp, err)
	}
}

func TestConfigWriteAndRead(t *testing.T) {
	e := newTestEnv(t)
	pub := testkit.Testdata(t, "signer.pub")
	e.writeConfig(map[string]any{
		"pem_keys":                          []string{pub},
		"issuer":                            "https://kubernetes.default.svc.cluster.local",
		"disable_iss_validation":            false,
		"disable_local_ca_jwt":              true,
		"use_annotations_as_alias_metadata": true,
	})
	got := e.mustDo(logical.ReadOperation, "config", nil).Data
	want := map[string]any{
		"kubernetes_host":                   e.kube.srv.URL,
		"kubernetes_ca_cert":                e.kube.caPEM, // as written, final newline included
		"pem_keys":                          []string{strings.TrimSpace(pub)},
		"issuer":                            "https://kubernetes.default.svc.cluster.local",
		"disable_iss_validation":            false,
		"disable_local_ca_jwt":              true,
		"token_reviewer_jwt_set":            true,
		"use_annotations_as_alias_metadata": true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read config:\n got %#v\nwant %#v", got, want)
	}
	if _, ok := got["token_reviewer_jwt"]; ok {
		t.Fatal("config read returned token_reviewer_jwt")
	}
	if strings.Contains(e.logs.String(), testReviewer) {
		t.Fatal("the reviewer JWT appears in the log")
	}
}

// A write replaces the whole config: fields left out return to defaults,
// as with Vault's own kubernetes auth method.
func TestConfigWriteReplaces(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig(map[string]any{"issuer": "x", "disable_iss_validation": false})
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"kubernetes_host": "kube.example:6443"})
	got := e.mustDo(logical.ReadOperation, "config", nil).Data
	if got["issuer"] != "" || got["disable_iss_validation"] != true || got["token_reviewer_jwt_set"] != false ||
		got["kubernetes_ca_cert"] != "" || got["kubernetes_host"] != "kube.example:6443" {
		t.Fatalf("second write did not replace the config: %#v", got)
	}
}

func TestConfigDefaults(t *testing.T) {
	e := newTestEnv(t)
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"kubernetes_host": "https://kube.example"})
	got := e.mustDo(logical.ReadOperation, "config", nil).Data
	if got["disable_iss_validation"] != true || got["disable_local_ca_jwt"] != false ||
		got["use_annotations_as_alias_metadata"] != false || len(got["pem_keys"].([]string)) != 0 {
		t.Fatalf("defaults: %#v", got)
	}
}

func TestConfigWarnsWithoutCA(t *testing.T) {
	e := newTestEnv(t)
	resp := e.mustDo(logical.UpdateOperation, "config", map[string]any{"kubernetes_host": "kube.example"})
	if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "kubernetes_ca_cert") {
		t.Fatalf("want a warning about kubernetes_ca_cert, got %#v", resp)
	}
	resp = e.mustDo(logical.UpdateOperation, "config", e.configData())
	if resp != nil && len(resp.Warnings) > 0 {
		t.Fatalf("unexpected warnings with a CA: %v", resp.Warnings)
	}
}

// An issuer that disable_iss_validation keeps from being checked is
// stored, as with the built-in method, but the write says it is not enforced.
func TestConfigWarnsIssuerNotEnforced(t *testing.T) {
	e := newTestEnv(t)
	data := e.configData()
	data["issuer"] = "https://kubernetes.default.svc"
	resp := e.mustDo(logical.UpdateOperation, "config", data)
	if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "issuer is set but not enforced") ||
		!strings.Contains(resp.Warnings[0], "disable_iss_validation=false") {
		t.Fatalf("want a warning that the issuer is not enforced, got %#v", resp)
	}
	if got := e.mustDo(logical.ReadOperation, "config", nil).Data["issuer"]; got != "https://kubernetes.default.svc" {
		t.Fatalf("issuer %v not stored", got)
	}
	data["disable_iss_validation"] = false
	if resp := e.mustDo(logical.UpdateOperation, "config", data); resp != nil && len(resp.Warnings) > 0 {
		t.Fatalf("unexpected warnings with issuer validation on: %v", resp.Warnings)
	}
}

func TestConfigHostForms(t *testing.T) {
	for _, host := range []string{"kube.example", "kube.example:6443", "https://kube.example:6443", "https://10.0.0.1", "http://127.0.0.1:8080", "https://[::1]:6443/"} {
		t.Run(host, func(t *testing.T) {
			e := newTestEnv(t)
			e.mustDo(logical.UpdateOperation, "config", map[string]any{"kubernetes_host": host})
			if got := e.rawEntry("config")["host"]; got != host {
				t.Fatalf("stored host %v, want %q", got, host)
			}
		})
	}
}

func TestConfigInvalid(t *testing.T) {
	other := testkit.Testdata(t, "other.pub")
	cases := []struct {
		name   string
		change map[string]any
		want   string
	}{
		{"no host", map[string]any{"kubernetes_host": ""}, "kubernetes_host: is required"},
		{"bad scheme", map[string]any{"kubernetes_host": "ftp://kube"}, "kubernetes_host: \"ftp://kube\" must use https://"},
		{"no host name", map[string]any{"kubernetes_host": "https://:6443"}, "kubernetes_host: \"https://:6443\" has no host name"},
		{"query", map[string]any{"kubernetes_host": "https://kube?x=1"}, "must not have a query"},
		{"credentials in URL", map[string]any{"kubernetes_host": "https://u:p@kube"}, "must not carry credentials"},
		{"bad port", map[string]any{"kubernetes_host": "kube:99999"}, "kubernetes_host"},
		{"CA not PEM", map[string]any{"kubernetes_ca_cert": "not a cert"}, "kubernetes_ca_cert: holds no PEM certificate; send the CA certificates as -----BEGIN CERTIFICATE----- blocks"},
		{"CA is a key", map[string]any{"kubernetes_ca_cert": other}, `kubernetes_ca_cert: PEM block 1 is a "PUBLIC KEY", not a CERTIFICATE; remove it`},
		{"CA garbage after cert", map[string]any{"kubernetes_ca_cert": "CA+junk"}, "kubernetes_ca_cert: has text after its last PEM block (a certificate cut short?); remove it"},
		{"reviewer JWT with newline", map[string]any{"token_reviewer_jwt": "abc\ndef"}, "token_reviewer_jwt: must be a single bearer token"},
		{"pem key not PEM", map[string]any{"pem_keys": []string{"nope"}}, "pem_keys[0]: is not PEM-encoded"},
		{"pem key second bad", map[string]any{"pem_keys": []string{other, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}}, "pem_keys[1]: cannot parse the public key"},
		{"pem key wrong type", map[string]any{"pem_keys": []string{"PRIVATE"}}, `pem_keys[0]: PEM type "PRIVATE KEY" is not a public key or certificate`},
		{"pem key ed25519", map[string]any{"pem_keys": []string{"ED25519"}}, "pem_keys[0]: key type ed25519.PublicKey is not RSA or ECDSA"},
		{"pem keys two blocks in one", map[string]any{"pem_keys": []string{"TWO"}}, "pem_keys[0]: holds 2 PEM blocks; send each key as its own entry"},
		{"pem key with text after it", map[string]any{"pem_keys": []string{other, other + "rotated 2026-01-01"}}, "pem_keys[1]: has text after its PEM block; remove it"},
		{"CA certificate with PEM headers", map[string]any{"kubernetes_ca_cert": "CA+headers"}, "kubernetes_ca_cert: PEM block 1 has PEM headers, so the certificate would be ignored; remove the header lines"},
		{"CA key block before the certificate", map[string]any{"kubernetes_ca_cert": "key+CA"}, `kubernetes_ca_cert: PEM block 1 is a "PUBLIC KEY", not a CERTIFICATE; remove it`},
		{"issuer with a newline", map[string]any{"issuer": "https://kubernetes.default.svc\n"}, `issuer: "https://kubernetes.default.svc\n" starts or ends with white space; send "https://kubernetes.default.svc"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.writeConfig(nil)
			data := e.configData()
			for k, v := range tc.change {
				switch v {
				case "CA+junk":
					v = e.kube.caPEM + "\njunk"
				case "CA+headers":
					v = withHeader(t, e.kube.caPEM)
				case "key+CA":
					v = other + e.kube.caPEM
				}
				if keys, ok := v.([]string); ok && len(keys) == 1 {
					switch keys[0] {
					case "PRIVATE":
						v = []string{testkit.Testdata(t, "signer.key")}
					case "ED25519":
						v = []string{testkit.Testdata(t, "ed25519.pub")}
					case "TWO":
						v = []string{other + other}
					}
				}
				data[k] = v
			}
			e.requireBadWrite("config", data, tc.want)
		})
	}
}

func TestConfigPEMKeyForms(t *testing.T) {
	for _, file := range []string{"signer.pub", "signer-pkcs1.pub", "signer.crt", "ec-signer.pub"} {
		t.Run(file, func(t *testing.T) {
			e := newTestEnv(t)
			e.writeConfig(map[string]any{"pem_keys": []string{testkit.Testdata(t, file)}})
		})
	}
}

// Vault's API also takes pem_keys as one comma-separated string.
func TestConfigPEMKeysCommaString(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig(map[string]any{"pem_keys": testkit.Testdata(t, "signer.pub") + "," + testkit.Testdata(t, "ec-signer.pub")})
	if n := len(e.rawEntry("config")["pem_keys"].([]any)); n != 2 {
		t.Fatalf("stored %d pem_keys, want 2", n)
	}
}

// Inside a pod, an unset CA falls back to the pod's CA file unless
// disable_local_ca_jwt, and an unset reviewer JWT to the pod's token.
func TestConfigLocalPodFiles(t *testing.T) {
	e := newTestEnv(t)
	dir := t.TempDir()
	e.b.localFiles = localFiles{dir: dir}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte(e.kube.caPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(testReviewer+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"kubernetes_host": e.kube.srv.URL})
	e.writeRole(testRole, nil)
	if resp, err := e.login(testRole, e.token()); err != nil || resp.IsError() {
		t.Fatalf("login with the pod's CA and token: resp=%#v err=%v", resp, err)
	}

	// A token the API server does not accept is named in the error.
	e.kube.setReviewerToken("rotated-token")
	resp, err := e.login(testRole, e.token())
	e.requireKubeFault(resp, err, "check the pod's service-account token "+filepath.Join(dir, "token"))

	// The kubelet rotates the token file: the next call uses the new token,
	// which is the only one the API server now accepts.
	e.kube.setReviewerToken("rotated-token")
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("rotated-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.login(testRole, e.token()); err != nil || resp.IsError() {
		t.Fatalf("login after token rotation: resp=%#v err=%v", resp, err)
	}

	// With disable_local_ca_jwt the pod's files are ignored: no CA (so the
	// fake's self-signed certificate is not trusted) and no reviewer token.
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"kubernetes_host": e.kube.srv.URL, "disable_local_ca_jwt": true})
	st, err := e.b.liveDefault(t.Context(), e.storage)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.kube.Credential().(kube.LoginJWT); !ok {
		t.Fatalf("with disable_local_ca_jwt the credential is %T, want the login JWT", st.kube.Credential())
	}
	resp, err = e.login(testRole, e.token())
	e.requireKubeFault(resp, err, "failed TLS verification", `"kind":"kubernetes_tls"`)
}

// A config write rebuilds the client, and Invalidate drops it, so the next
// login uses what storage holds now.
func TestConfigChangeRebuildsClient(t *testing.T) {
	e := configured(t)
	if resp, err := e.login(testRole, e.token()); err != nil || resp.IsError() {
		t.Fatalf("login: %v %#v", err, resp)
	}
	first, _ := e.b.liveDefault(t.Context(), e.storage)

	e.writeConfig(map[string]any{"token_reviewer_jwt": "wrong"})
	resp, err := e.login(testRole, e.token())
	e.requireKubeFault(resp, err, "HTTP 401", "check token_reviewer_jwt")

	// Another node rewrote the config in storage; Vault calls Invalidate.
	entry, err := logical.StorageEntryJSON(configPath, &clusterConfig{
		Host: e.kube.srv.URL, CACert: e.kube.caPEM, TokenReviewerJWT: testReviewer, DisableISSValidation: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.storage.Put(t.Context(), entry); err != nil {
		t.Fatal(err)
	}
	e.b.Invalidate(t.Context(), configPath)
	if resp, err := e.login(testRole, e.token()); err != nil || resp.IsError() {
		t.Fatalf("login after invalidate: %v %#v", err, resp)
	}
	second, _ := e.b.liveDefault(t.Context(), e.storage)
	if first == second {
		t.Fatal("state was not rebuilt")
	}
	third, _ := e.b.liveDefault(t.Context(), e.storage)
	if second != third {
		t.Fatal("state is rebuilt on every call instead of being reused")
	}
}
