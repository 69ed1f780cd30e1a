package verify

import (
	"debug/buildinfo"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/names"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/provenance"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/sums"
)

// gofips140 is the GOFIPS140 a binary records, "" when it has none.
func gofips140(t *testing.T, path string) string {
	t.Helper()
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range bi.Settings {
		if s.Key == "GOFIPS140" {
			return s.Value
		}
	}
	return ""
}

// `make release FIPS=1` lists the FIPS 140-3 build apart, as
// <os>_<arch>_fips: its binary, zip and SBOM, each verified; the binary
// records GOFIPS140 and says so in -version, the standard one records none;
// the provenance names the module and the platform once.
func TestFIPSBuildIsListedApartAndVerified(t *testing.T) {
	b := release(t)
	listed, err := sums.Parse(readFile(t, filepath.Join(b.signed, names.Sums(version))))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{names.Binary(version, "linux_amd64_fips"), names.Zip(version, "linux_amd64_fips"), names.SBOM(version, "linux_amd64_fips")} {
		if _, ok := listed[f]; !ok {
			t.Errorf("%s does not list %s", names.Sums(version), f)
		}
	}
	fipsBin := filepath.Join(b.signed, names.Binary(version, "linux_amd64_fips"))
	if m := gofips140(t, fipsBin); m == "" || m == "off" {
		t.Errorf("the FIPS binary records GOFIPS140=%q", m)
	}
	if m := gofips140(t, filepath.Join(b.signed, names.Binary(version, "linux_amd64"))); m != "" {
		t.Errorf("the standard binary records GOFIPS140=%q", m)
	}
	out, err := exec.Command(fipsBin, "-version").Output()
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); err != nil || len(lines) != 2 || lines[0] != version || !strings.Contains(lines[1], "FIPS 140-3 module") {
		t.Errorf("the FIPS binary's -version: %q, %v", out, err)
	}
	st, err := provenance.Parse(readFile(t, filepath.Join(b.signed, names.Provenance(version))))
	if err != nil {
		t.Fatal(err)
	}
	ext := st.Predicate.BuildDefinition.ExternalParameters
	if ext.FIPSModule == "" || !slices.Equal(ext.Platforms, []string{"linux/amd64"}) {
		t.Errorf("provenance: FIPS module %q, platforms %v", ext.FIPSModule, ext.Platforms)
	}
	verified := mustVerify(t, b.signed, b.public, 0)
	want := names.SBOM(version, "linux_amd64_fips") + " describes " + names.Binary(version, "linux_amd64_fips")
	if !slices.ContainsFunc(strings.Split(verified, "\n"), func(l string) bool {
		return strings.HasPrefix(l, "OK ") && strings.Contains(l, want)
	}) {
		t.Errorf("verify-release has no OK line with %q:\n%s", want, verified)
	}
}
