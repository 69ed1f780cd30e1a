package e2e

import (
	"net/http"
	"testing"
)

// The binary under test is the one Vault runs: registered in the catalog
// with its sha256 and version, and running for the mounts.
func TestPluginIsRegisteredAndRunning(t *testing.T) {
	t.Parallel()
	r := root(t, http.MethodGet, "sys/plugins/catalog/auth/"+pluginName+"?version="+stk.pluginVersion, nil)
	expectStatus(t, r, http.StatusOK)
	d := r.Data()
	if got := d.Str("sha256"); got != stk.pluginSHA {
		t.Errorf("catalog sha256 = %q, want %q (the binary's)", got, stk.pluginSHA)
	}
	if got := d.Str("version"); got != stk.pluginVersion {
		t.Errorf("catalog version = %q, want %q", got, stk.pluginVersion)
	}
	if d["builtin"] != false {
		t.Errorf("catalog entry is builtin: %s", r)
	}

	m := configuredMount(t)
	r = root(t, http.MethodGet, "sys/auth/"+m.path, nil)
	expectStatus(t, r, http.StatusOK)
	d = r.Data()
	if d.Str("type") != pluginName || d.Str("running_plugin_version") != stk.pluginVersion ||
		d.Str("running_sha256") != stk.pluginSHA {
		t.Errorf("auth/%s is not served by %s %s (sha256 %s): %s", m.path, pluginName, stk.pluginVersion, stk.pluginSHA, r)
	}
}
