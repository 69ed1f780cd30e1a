package kubeauth

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-secure-stdlib/parseutil"
	"github.com/hashicorp/vault/sdk/helper/cidrutil"
	"github.com/hashicorp/vault/sdk/logical"
	"k8s.io/apimachinery/pkg/labels"
)

// Fuzz targets for every parser that sees untrusted input (the login JWT,
// claims) or stored input (config and roles, possibly written by Vault's
// built-in method or an older version). Seeds: the f.Add calls below, and
// testdata/fuzz/<Target>/ (tokens, keys and CAs minted by a real
// kube-apiserver with scripts/fuzz-seeds.sh, plus every crasher found).
// `make fuzz-smoke` runs each for a few seconds, `make fuzz` for longer.

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
		"bound_clusters", "alias_metadata_pod_labels", "alias_metadata_owner",
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
	f.Add(uint8(18), "app,app.kubernetes.io/name,a_b,a.b")
	f.Add(uint8(19), "yes")
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
	f.Add([]byte(`{"bound_service_account_names":["*"],"bound_service_account_namespaces":["*"],"alias_metadata_pod_labels":["` +
		strings.Repeat("a", 300) + `","a..b",""],"alias_metadata_owner":true}`))
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
	f.Add([]byte(`{"host":"https://127.0.0.1:1","kubernetes_hosts":["https://127.0.0.1:1","https://127.0.0.1:2"],"kubernetes_proxy_url":"http://u:p@127.0.0.1:3","tls_server_name":"x"}`))
	f.Add([]byte(`{"host":"a","kubernetes_hosts":"not a list","token_reviewer_client_cert":"junk","token_reviewer_client_key":"junk"}`))
	f.Add([]byte(`{"host":"https://127.0.0.1:1","jwks_url":"https://user:pw@keys.example/#x"}`))
	f.Add([]byte(`{"host":"https://127.0.0.1:1","jwks_url":12}`))
	f.Fuzz(func(t *testing.T, stored []byte) {
		e.t = t
		if err := e.storage.Put(t.Context(), &logical.StorageEntry{Key: configPath, Value: stored}); err != nil {
			t.Fatal(err)
		}
		e.b.resetState(defaultCluster)
		_, _ = e.do(logical.ReadOperation, "config", nil)
		// Logins only where the stored host is the fake API server: a fuzzed
		// host must never make the test talk to another address.
		if cfg, err := loadConfig(t.Context(), e.storage); err == nil && cfg != nil && cfg.Host == e.kube.srv.URL &&
			len(cfg.Hosts) == 0 && cfg.ProxyURL == "" {
			_, _ = e.login(testRole, e.token())
		} else {
			_, _ = e.b.liveDefault(t.Context(), e.storage)
		}
	})
}
