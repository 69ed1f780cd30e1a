package e2e

import (
	"bufio"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// readmeInstallSteps is the shell block of the README that follows the
// install-steps marker.
func readmeInstallSteps(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(stk.RepoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(raw), "<!-- install-steps")
	if !ok {
		t.Fatal("README.md has no install-steps marker")
	}
	_, after, ok = strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatal("no ```sh block after the install-steps marker")
	}
	block, _, ok := strings.Cut(after, "\n```\n")
	if !ok {
		t.Fatal("the install-steps block does not end")
	}
	return block + "\n"
}

// readSums reads a SHA256SUMS file into file name -> sha256.
func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (make e2e-test runs make release first)", err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		sums[file] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sums
}

// The README's install steps, run as written with bash against the real
// Vault, from the release's files in dist/ (`make release`) as an operator
// downloads them for one platform: first the verifier (signature when the
// release is signed, digests, the SBOM against the zipped binary, the
// provenance), then the steps: verify, unpack, verify the binary, -install into Vault's plugin
// directory, register with the printed SHA-256 and the version, enable. The
// mount then logs a workload in. Two things are adapted: the mount path
// (auth/kubernetes belongs to another test) and the platform, when this
// machine is not amd64.
func TestReadmeInstall(t *testing.T) {
	t.Parallel()
	version := strings.TrimPrefix(stk.pluginVersion, "v")
	dist := filepath.Join(stk.RepoRoot, "dist")
	base := "vault-plugin-auth-kubernetes_" + version
	platform := "linux_" + runtime.GOARCH
	sums := readSums(t, filepath.Join(dist, base+"_SHA256SUMS"))
	binSum := sums[base+"_"+platform+"/vault-plugin-auth-kubernetes"]
	// The steps install over the binary this suite registered, under the
	// same name and version: they must be the same bytes, which is also
	// the promise that `make build` gives the released binary.
	if binSum != stk.pluginSHA {
		t.Fatalf("the release's %s binary has sha256 %q, bin/ (make build) has %s: the two builds differ", platform, binSum, stk.pluginSHA)
	}

	m := &mount{path: realstack.UniqueName(t, "k")}
	steps := readmeInstallSteps(t)
	if strings.Count(steps, "-path=kubernetes ") != 1 {
		t.Fatalf("the install steps do not enable exactly one mount at auth/kubernetes:\n%s", steps)
	}
	steps = strings.Replace(steps, "-path=kubernetes ", "-path="+m.path+" ", 1)
	steps = strings.ReplaceAll(steps, "linux_amd64", platform)
	t.Cleanup(func() { root(t, http.MethodDelete, "sys/auth/"+m.path, nil) })

	work := t.TempDir()
	download(t, dist, work, base+"_SHA256SUMS", base+"_"+platform+".zip", base+"_"+platform+".sbom.cdx.json",
		base+"_provenance.intoto.json", base+"_SHA256SUMS.sig", base+"_provenance.intoto.json.sig")
	verifyRelease(t, work, base+"_"+platform)
	path := t.TempDir()
	if err := os.Symlink(stk.VaultBin, filepath.Join(path, "vault")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", steps)
	cmd.Dir = work
	cmd.Env = append(realstack.CleanEnv(),
		"PATH="+path+string(os.PathListSeparator)+os.Getenv("PATH"),
		"VAULT_ADDR="+stk.Vault.Addr, "VAULT_TOKEN="+stk.root.Token(),
		"VERSION="+version, "PLUGIN_DIR="+stk.PluginDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's install steps failed: %v\n%s\nsteps:\n%s", err, out, steps)
	}
	for _, f := range []string{base + "_" + platform + ".zip", base + "_" + platform + "/vault-plugin-auth-kubernetes"} {
		if !strings.Contains(string(out), f+": OK") {
			t.Errorf("sha256sum did not check %s:\n%s", f, out)
		}
	}

	entry, err := stk.root.Sys().GetPluginWithContext(realstack.KubeCtx(t), &vault.GetPluginInput{
		Name: pluginName, Type: vault.PluginTypeCredential, Version: "v" + version,
	})
	if err != nil {
		t.Fatal(err)
	}
	if entry.SHA256 != binSum {
		t.Fatalf("catalog sha256 %s, SHA256SUMS says %s", entry.SHA256, binSum)
	}
	r := root(t, http.MethodGet, "sys/auth/"+m.path, nil)
	expectStatus(t, r, http.StatusOK)
	if got := r.Data().Str("running_plugin_version"); got != "v"+version {
		t.Fatalf("auth/%s runs %q, want v%s: %s", m.path, got, version, r)
	}
	m.configure(t, nil)
	w := stk.NewWorkload(t, "app", nil)
	m.bindRole(t, "app", w, nil)
	m.mustLogin(t, "app", vaultToken(t, w))
}

// download copies the release files an operator downloads for one
// platform into work; the signatures only when the release has them.
func download(t *testing.T, dist, work string, files ...string) {
	t.Helper()
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(dist, f))
		if errors.Is(err, os.ErrNotExist) && strings.HasSuffix(f, ".sig") {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// releaseKeyEnv names the public key of a release made with SIGNING_KEY;
// without it the release is verified unsigned, and the verifier says so.
const releaseKeyEnv = "KUBEAUTH_RELEASE_PUBLIC_KEY"

// verifyRelease runs the README's first install step, the verifier, on
// the downloaded files before anything is installed: it must pass, and
// must have checked the zip's digest and held the SBOM against the binary
// in the zip.
func verifyRelease(t *testing.T, work, platformBase string) {
	t.Helper()
	args := []string{work}
	if key := os.Getenv(releaseKeyEnv); key != "" {
		args = append(args, key)
	}
	cmd := exec.Command(filepath.Join(stk.RepoRoot, "scripts", "verify-release"), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/verify-release refuses the release: %v\n%s", err, out)
	}
	for _, want := range []string{
		"OK   digest     " + platformBase + ".zip matches",
		"OK   sbom       " + platformBase + ".sbom.cdx.json describes the binary in " + platformBase + ".zip",
		"OK   provenance ",
		"VERIFIED",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("verify-release did not say %q:\n%s", want, out)
		}
	}
}
