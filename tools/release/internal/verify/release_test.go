package verify

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/names"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/pgp"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/provenance"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/sums"
)

// releaseTestEnv, set to 1, lets the tests that run `make release` run:
// `make release-test` sets it (part of `make test`); a plain `go test`
// leaves them out, saying so.
const releaseTestEnv = "KUBEAUTH_RELEASE_TEST"

const version = "v0.0.1-test"

// built is the release under test: `make release` with a throwaway key,
// and again unsigned from a clean copy of the source, built once for all
// the tests of the package.
type built struct {
	signed, unsigned string // the two release directories
	public, otherKey string // the signing key's public half; an unrelated public key
	unsignedOutput   string // what the unsigned `make release` printed
}

var rel *built

func TestMain(m *testing.M) {
	code := m.Run()
	if rel != nil {
		os.RemoveAll(filepath.Dir(rel.signed))
	}
	os.Exit(code)
}

// release builds the release under test the first time a test asks.
func release(t *testing.T) *built {
	t.Helper()
	if os.Getenv(releaseTestEnv) != "1" {
		t.Skipf("runs `make release` twice: run by `make release-test` (%s=1), part of `make test`", releaseTestEnv)
	}
	if rel != nil {
		return rel
	}
	work, err := os.MkdirTemp("", "release-test-")
	if err != nil {
		t.Fatal(err)
	}
	b := &built{signed: filepath.Join(work, "signed"), unsigned: filepath.Join(work, "unsigned")}
	rel = b
	priv, pub, err := pgp.NewTestKey("release test")
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := pgp.NewTestKey("not the release's")
	if err != nil {
		t.Fatal(err)
	}
	b.public, b.otherKey = filepath.Join(work, "public.asc"), filepath.Join(work, "other.asc")
	key := filepath.Join(work, "private.asc")
	for f, raw := range map[string][]byte{key: priv, b.public: pub, b.otherKey: other} {
		if err := os.WriteFile(f, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	repo, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	makeRelease(t, repo, b.signed, "TZ=UTC", "SIGNING_KEY="+key)
	src := filepath.Join(work, "elsewhere", "src")
	cleanCopy(t, repo, src)
	b.unsignedOutput = makeRelease(t, src, b.unsigned, "TZ=Asia/Kolkata")
	return b
}

// makeRelease runs `make release` for linux/amd64 in the tree at dir, as a
// maintainer does, with the FIPS 140-3 build too (FIPS=1, which adds files
// and changes none of the standard ones), and returns its output.
func makeRelease(t *testing.T, dir, dist string, env ...string) string {
	t.Helper()
	args := []string{"-C", dir, "--no-print-directory", "release", "VERSION=" + version, "DIST=" + dist, "RELEASE_PLATFORMS=linux/amd64", "FIPS=1"}
	var vars []string
	for _, e := range env {
		if strings.HasPrefix(e, "SIGNING_KEY=") {
			args = append(args, e)
		} else {
			vars = append(vars, e)
		}
	}
	cmd := exec.Command("make", args...)
	// -trimpath lets the copy's go run of the release tools reuse the
	// build cache, which paths would otherwise key apart (the plugin is
	// built with -trimpath anyway).
	cmd.Env = append(os.Environ(), append(vars, "GOFLAGS=-trimpath -buildvcs=false")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make release in %s: %v\n%s", dir, err, out)
	}
	return string(out)
}

// cleanCopy copies the source as a fresh checkout would have it: the
// files git tracks or would track (nothing ignored: no dist, bin or
// caches), without the git metadata.
func cleanCopy(t *testing.T, repo, dst string) {
	t.Helper()
	out, err := exec.Command("git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("listing the source with git (the test copies what a checkout holds): %v", err)
	}
	for _, rel := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		src := filepath.Join(repo, rel)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or a link
		}
		raw, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, raw, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A rebuild from a clean copy of the source, in another directory and time
// zone, unsigned, gives the same SHA256SUMS byte for byte, every file it
// lists (binaries, zips, SBOMs, the image and its SBOM) the same, and a
// provenance naming the same digests: what the README tells anyone to do
// to check a release.
func TestRebuildFromCleanCopyIsTheSame(t *testing.T) {
	b := release(t)
	sumsName := names.Sums(version)
	a, c := readFile(t, filepath.Join(b.signed, sumsName)), readFile(t, filepath.Join(b.unsigned, sumsName))
	if !bytes.Equal(a, c) {
		t.Fatalf("%s differs between the two builds:\n%s\n---\n%s", sumsName, a, c)
	}
	listed, err := sums.Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	for f, sum := range listed {
		if got, err := sums.File(filepath.Join(b.unsigned, filepath.FromSlash(f))); err != nil || got != sum {
			t.Errorf("%s in the rebuild: %s, %v; want %s", f, got, err, sum)
		}
	}
	for _, kind := range []string{"binary", "zip", "sbom", "oci/index.json"} {
		if !hasListed(listed, kind) {
			t.Errorf("%s lists no %s", sumsName, kind)
		}
	}
	pa, err := provenance.Parse(readFile(t, filepath.Join(b.signed, names.Provenance(version))))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := provenance.Parse(readFile(t, filepath.Join(b.unsigned, names.Provenance(version))))
	if err != nil {
		t.Fatal(err)
	}
	if !equalSubjects(pa.Subject, pc.Subject) {
		t.Errorf("the provenance's subjects differ:\n%+v\n%+v", pa.Subject, pc.Subject)
	}
	if pa.Predicate.BuildDefinition.ResolvedDependencies[0].Digest["gitCommit"] == "" {
		t.Error("the provenance of a build from a git checkout names no commit")
	}
}

func hasListed(listed sums.Sums, kind string) bool {
	for f := range listed {
		switch {
		case kind == "binary" && names.IsBinary(version, f),
			kind == "zip" && strings.HasSuffix(f, ".zip"),
			kind == "sbom" && strings.HasSuffix(f, ".sbom.cdx.json"),
			kind == "oci/index.json" && f == names.Layout(version)+"/index.json":
			return true
		}
	}
	return false
}

func equalSubjects(a, b []provenance.Subject) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Digest["sha256"] != b[i].Digest["sha256"] {
			return false
		}
	}
	return true
}
