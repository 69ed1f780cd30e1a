package kubeauth

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/go-secure-stdlib/parseutil"
	"github.com/hashicorp/vault/sdk/helper/cidrutil"
	"github.com/hashicorp/vault/sdk/logical"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// Fuzz targets for every parser that sees untrusted input (the login JWT,
// claims) or stored input (config and roles, possibly written by Vault's
// built-in method or an older version). Seeds: the f.Add calls below, and
// testdata/fuzz/<Target>/ (tokens, keys and CAs minted by a real
// kube-apiserver with scripts/fuzz-seeds.sh, plus every crasher found).
// `make fuzz-smoke` runs each for a few seconds, `make fuzz` for longer.

// FuzzParseToken: any string is either a parsed token or a 400/403, never a
// panic, and the claims of a parsed one are safe to check.
func FuzzParseToken(f *testing.F) {
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0." + testkit.B64(`{"sub":"x"}`) + ".")
	f.Add(testkit.B64(`{"alg":"RS256"}`) + "." + testkit.B64(`{"kubernetes.io":{"namespace":"a/b"}}`) + ".c2ln")
	f.Add(testkit.B64(`{"alg":"RS256"}`) + "." + testkit.B64(`{"exp":"soon","aud":7}`) + ".c2ln")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := parseToken(raw)
		if err != nil {
			requireLoginError(t, err)
			return
		}
		_ = checkTimes(&tok.Claims.Claims, time.Now())
		if sa, err := serviceAccountFromClaims(&tok.Claims); err != nil {
			requireLoginError(t, err)
		} else if sa.Namespace == "" || sa.Name == "" || sa.UID == "" {
			t.Fatalf("identity accepted with an empty part: %+v", sa)
		}
	})
}

// FuzzSignedClaims signs arbitrary payload bytes with a key the backend
// trusts: whatever the payload holds, a correct signature is never reported
// as a bad one (decode problems are claims problems).
func FuzzSignedClaims(f *testing.F) {
	key := testkit.PrivateKey(f, "ec-signer.key")
	keys, err := parsePEMKeys([]string{testkit.Testdata(f, "ec-signer.pub")}, parseStrict)
	if err != nil {
		f.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"sub":"system:serviceaccount:apps:web","kubernetes.io":{"namespace":"apps","serviceaccount":{"name":"web","uid":"u"}}}`))
	f.Add([]byte(`{"kubernetes.io":{"namespace":"apps","namespace":"other"}}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	// Duplicate keys in a nested object the claims struct does not decode.
	f.Add([]byte(`{"sub":"system:serviceaccount:apps:web","x":{"y":1,"y":2}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"exp":1e400}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		tok, err := parseToken(raw)
		if err != nil {
			requireLoginError(t, err)
			return
		}
		if err := verifySignature(tok.JWS, keys); err != nil {
			var ref *refusal.Refusal
			if errors.As(err, &ref) && ref.Reason == refusal.ReasonSignature {
				t.Fatalf("a correctly signed token was refused as %s: %v", refusal.ReasonSignature, err)
			}
			requireLoginError(t, err)
		}
	})
}

// FuzzPEMKeys: a pem_keys entry gives exactly one RSA or ECDSA key or an
// error, in both modes; whatever a write accepts, stored data reads as the
// same key (a config this plugin wrote never becomes unusable).
func FuzzPEMKeys(f *testing.F) {
	for _, name := range []string{"signer.pub", "signer-pkcs1.pub", "signer.crt", "ec-signer.pub", "ed25519.pub"} {
		f.Add(testkit.Testdata(f, name))
	}
	f.Add(testkit.Testdata(f, "signer.pub") + testkit.Testdata(f, "other.pub"))
	f.Add(testkit.Testdata(f, "signer.pub") + "trailing text\n")
	f.Add("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")
	f.Fuzz(func(t *testing.T, entry string) {
		strict, strictErr := parsePEMKeys([]string{entry}, parseStrict)
		stored, storedErr := parsePEMKeys([]string{entry}, parseStored)
		if strictErr == nil && len(strict) != 1 || storedErr == nil && len(stored) != 1 {
			t.Fatalf("one entry gave %d keys (write) and %d (stored)", len(strict), len(stored))
		}
		if strictErr == nil && (storedErr != nil || !reflect.DeepEqual(strict, stored)) {
			t.Fatalf("a key accepted on write reads differently from storage: %v", storedErr)
		}
	})
}

// FuzzCABundle: a CA bundle gives at least one certificate or an error, in
// both modes; what a write accepts, stored data trusts alike.
func FuzzCABundle(f *testing.F) {
	f.Add(testkit.Testdata(f, "signer.crt"))
	f.Add(testkit.Testdata(f, "signer.crt") + testkit.Testdata(f, "signer.crt"))
	f.Add(testkit.Testdata(f, "signer.crt") + "# trailing comment\n")
	f.Add(testkit.Testdata(f, "signer.pub"))
	f.Add("")
	f.Fuzz(func(t *testing.T, bundle string) {
		strict, strictErr := parseCABundle(bundle, parseStrict)
		stored, storedErr := parseCABundle(bundle, parseStored)
		if strictErr == nil && len(strict) == 0 || storedErr == nil && len(stored) == 0 {
			t.Fatal("a bundle without certificates was accepted")
		}
		if strictErr == nil && (storedErr != nil || len(stored) != len(strict)) {
			t.Fatalf("a bundle accepted on write reads differently from storage: %d vs %d certificates, %v", len(strict), len(stored), storedErr)
		}
	})
}

// FuzzNamespaceSelector: a selector in JSON or YAML either parses into a
// selector that is safe to match with, deterministically, or is refused.
func FuzzNamespaceSelector(f *testing.F) {
	f.Add(`{"matchLabels":{"team":"a"}}`, "team", "a")
	f.Add("matchExpressions:\n- key: env\n  operator: In\n  values: [prod, stage]\n", "env", "prod")
	f.Add(`{"matchExpressions":[{"key":"x","operator":"DoesNotExist"}]}`, "x", "")
	f.Add(`{}`, "", "")
	f.Add(`null`, "a", "b")
	f.Add(`# only a comment`, "a", "b")
	f.Add(`{"matchLabel":{"team":"a"}}`, "team", "a")
	f.Fuzz(func(t *testing.T, s, key, value string) {
		sel, err := parseNamespaceSelector(s)
		if err != nil {
			return
		}
		again, err := parseNamespaceSelector(s)
		if err != nil || again.String() != sel.String() {
			t.Fatalf("parsing %q twice differs: %v / %q vs %q", s, err, sel, again)
		}
		set := labels.Set{key: value}
		if sel.Matches(set) != again.Matches(set) {
			t.Fatal("the same selector matched differently")
		}
	})
}

// FuzzGlob holds the bound_service_account_* globs to their meaning: a
// pattern without "*" is an exact name, a lone "*" matches everything.
func FuzzGlob(f *testing.F) {
	f.Add("web", "web")
	f.Add("web-*", "web-1")
	f.Add("*-api", "x-api")
	f.Add("a*b*c", "abc")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, pattern, value string) {
		got := matchesAny([]string{pattern}, value)
		switch {
		case pattern == "*" && !got:
			t.Fatalf("%q did not match %q", pattern, value)
		case pattern == value && !got:
			t.Fatalf("%q did not match itself", pattern)
		case !strings.Contains(pattern, "*") && got != (pattern == value):
			t.Fatalf("literal %q vs %q: match=%v", pattern, value, got)
		}
	})
}

// FuzzCIDRs: token_bound_cidrs and bound_cidrs accept only IP addresses and
// CIDR blocks, and what they accept is usable at login.
func FuzzCIDRs(f *testing.F) {
	f.Add("10.0.0.0/8")
	f.Add("10.0.0.0/8,192.168.1.1")
	f.Add("fd00::/8, 127.0.0.1/32")
	f.Add("10.0.0.0/99")
	f.Add("/var/run/sock")
	f.Fuzz(func(t *testing.T, list string) {
		if err := validateCIDRs(list); err != nil {
			return
		}
		cidrs, err := parseutil.ParseAddrs(list)
		if err != nil {
			t.Fatalf("validated %q but the SDK cannot parse it: %v", list, err)
		}
		_ = cidrutil.RemoteAddrIsOk("10.1.2.3", cidrs)
	})
}

// FuzzServiceAccountUsername: only system:serviceaccount:<ns>:<name> is a
// service account, and the parts put back together give the input.
func FuzzServiceAccountUsername(f *testing.F) {
	f.Add("system:serviceaccount:apps:web")
	f.Add("system:serviceaccount:apps:web:extra")
	f.Add("system:node:n1")
	f.Add("system:serviceaccount::")
	f.Fuzz(func(t *testing.T, username string) {
		ns, name, ok := parseServiceAccountUsername(username)
		if ok && "system:serviceaccount:"+ns+":"+name != username {
			t.Fatalf("%q split into %q and %q", username, ns, name)
		}
	})
}

// FuzzRoleWrite sends arbitrary values for the duration, count and list
// fields of a role write (new and legacy names): each write is stored whole
// or refused with a 400, and what is stored reads back and logs in.
func FuzzRoleWrite(f *testing.F) {
	e := configured(f)
	fields := []string{
		"token_ttl", "token_max_ttl", "token_period", "token_explicit_max_ttl",
		"ttl", "max_ttl", "period", "token_num_uses", "num_uses",
		"token_policies", "policies", "token_bound_cidrs", "bound_cidrs",
		"token_type", "alias_metadata", "alias_name_source", "audience",
		"bound_clusters",
	}
	f.Add(uint8(0), "1h")
	f.Add(uint8(4), "3600")
	f.Add(uint8(1), "-5s")
	f.Add(uint8(6), "99999999999999999999h")
	f.Add(uint8(7), "-1")
	f.Add(uint8(8), "3")
	f.Add(uint8(9), "a,,b, root")
	f.Add(uint8(12), "10.0.0.0/8")
	f.Add(uint8(13), "batch")
	f.Add(uint8(14), `{"team":"a"}`)
	f.Add(uint8(17), "default,*, east,,DEFAULT")
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		e.t = t
		field := fields[int(which)%len(fields)]
		data := roleData()
		data[field] = value
		resp, err := e.do(logical.UpdateOperation, "role/fuzzed", data)
		if err != nil {
			t.Fatalf("role write with %s=%q: internal error %v", field, value, err)
		}
		if resp != nil && resp.IsError() {
			if e.rawEntry("role/fuzzed") != nil {
				t.Fatalf("the write of %s=%q was refused (%v) but stored the role", field, value, resp.Error())
			}
			return
		}
		read := e.mustDo(logical.ReadOperation, "role/fuzzed", nil)
		for _, k := range []string{"token_ttl", "token_max_ttl", "token_period", "token_explicit_max_ttl", "token_num_uses"} {
			if n, ok := read.Data[k].(int64); ok && n < 0 {
				t.Fatalf("%s=%q stored a negative %s: %d", field, value, k, n)
			}
		}
		_, _ = e.login("fuzzed", e.token())
		e.mustDo(logical.DeleteOperation, "role/fuzzed", nil)
	})
}

// FuzzStoredRole: a role as any version of either method may have stored it
// loads, reads and logs in, or fails cleanly; never a panic.
func FuzzStoredRole(f *testing.F) {
	e := configured(f)
	f.Add([]byte(vaultLegacyRole))
	f.Add([]byte(vaultModernRole))
	f.Add([]byte(`{"bound_service_account_names":["web"],"bound_service_account_namespaces":["apps"],"ttl":"1h","BoundCIDRs":["x"]}`))
	f.Add([]byte(`{"bound_service_account_names":null,"token_type":7,"alias_name_source":"?"}`))
	f.Add([]byte(`{"bound_service_account_names":["*"],"bound_service_account_namespace_selector":"{}"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, stored []byte) {
		e.t = t
		if err := e.storage.Put(t.Context(), &logical.StorageEntry{Key: "role/stored", Value: stored}); err != nil {
			t.Fatal(err)
		}
		e.b.roles.forget("stored")
		_, _ = e.do(logical.ReadOperation, "role/stored", nil)
		_, _ = e.login("stored", e.token())
	})
}

// FuzzStoredConfig: a config as any version of either method may have
// stored it is used or refused cleanly at login; never a panic.
func FuzzStoredConfig(f *testing.F) {
	e := configured(f)
	f.Add([]byte(vaultConfig(e)))
	f.Add([]byte(`{"host":"https://127.0.0.1:1","pem_keys":["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]}`))
	f.Add([]byte(`{"host":"","ca_cert":"junk","pem_keys":"not a list"}`))
	f.Add([]byte(`{"host":"::::","disable_iss_validation":"yes"}`))
	f.Fuzz(func(t *testing.T, stored []byte) {
		e.t = t
		if err := e.storage.Put(t.Context(), &logical.StorageEntry{Key: configPath, Value: stored}); err != nil {
			t.Fatal(err)
		}
		e.b.resetState(defaultCluster)
		_, _ = e.do(logical.ReadOperation, "config", nil)
		// Logins only where the stored host is the fake API server: a fuzzed
		// host must never make the test talk to another address.
		if cfg, err := loadConfig(t.Context(), e.storage); err == nil && cfg != nil && cfg.Host == e.kube.srv.URL {
			_, _ = e.login(testRole, e.token())
		} else {
			_, _ = e.b.currentState(t.Context(), e.storage)
		}
	})
}

// requireLoginError fails unless err is one of the two answers a caller may
// get for a bad token: a 400 naming the field, or a refusal (403).
func requireLoginError(t *testing.T, err error) {
	t.Helper()
	var ref *refusal.Refusal
	var bad *refusal.InputError
	if !errors.As(err, &ref) && !errors.As(err, &bad) {
		t.Fatalf("want a refusal or an input error, got %T: %v", err, err)
	}
}
