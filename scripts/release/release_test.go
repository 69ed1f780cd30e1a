package main

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// releaseTestEnv, set to 1, lets TestReleaseIsReproducible run.
const releaseTestEnv = "KUBEAUTH_RELEASE_TEST"

// Two builds of the same source give the same bytes, although the second is
// built from a copy of the source in another directory, outside any VCS
// checkout, at another time: nothing of the building machine, the checkout
// or the clock may reach the binary, the zip or the checksums.
//
// It builds the release twice, so `make release-test` runs it (as part of
// `make test`) and the plain unit run leaves it to that target.
func TestReleaseIsReproducible(t *testing.T) {
	if os.Getenv(releaseTestEnv) != "1" {
		t.Skipf("builds the release twice: run by `make release-test` (%s=1), part of `make test`", releaseTestEnv)
	}
	const version = "v0.0.1-repro"
	p := platform{"linux", "amd64"}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	first, second := t.TempDir(), t.TempDir()
	runRelease(t, repo, first, version, p, "TZ=UTC")
	src := filepath.Join(t.TempDir(), "elsewhere", "src")
	copyModule(t, repo, src)
	runRelease(t, src, second, version, p, "TZ=Asia/Kolkata")

	files := []string{
		sumsName(version),
		"vault-plugin-auth-kubernetes_0.0.1-repro_linux_amd64.zip",
		"vault-plugin-auth-kubernetes_0.0.1-repro_linux_amd64/vault-plugin-auth-kubernetes",
	}
	for _, f := range files {
		a, err := os.ReadFile(filepath.Join(first, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(second, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds of the same source (%d and %d bytes)", f, len(a), len(b))
		}
	}

	// The zip holds the binary alone, executable, byte for byte.
	bin, err := os.ReadFile(filepath.Join(first, files[2]))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(filepath.Join(first, files[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != name || zr.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("zip entries: %+v, want only %s, mode 0755", zr.File, name)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	inZip, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(inZip, bin) {
		t.Fatal("the zipped binary differs from the unpacked one")
	}

	// SHA256SUMS lists both, in sha256sum's format.
	sums, err := os.ReadFile(filepath.Join(first, files[0]))
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256Hex(bin) + "  " + files[2] + "\n"; !strings.Contains(string(sums), want) {
		t.Fatalf("%s lacks %q:\n%s", files[0], want, sums)
	}
}

func TestReleaseRefusesVersionsVaultRejects(t *testing.T) {
	for _, v := range []string{"", "0.1.0", "v1.2", "v1.2.3.4", "latest"} {
		out := t.TempDir()
		if _, err := release("go", "../..", out, v, []platform{{"linux", "amd64"}}); err == nil {
			t.Errorf("version %q accepted", v)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("version %q: wrote %d files", v, len(entries))
		}
	}
}

func TestParsePlatforms(t *testing.T) {
	got, err := parsePlatforms("linux/amd64, darwin/arm64")
	if err != nil || len(got) != 2 || got[1] != (platform{"darwin", "arm64"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "linux", "linux/", "/amd64"} {
		if _, err := parsePlatforms(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// runRelease runs the release command, as `make release` does, from the
// module in srcDir: each build is a process of its own, so nothing computed
// once per process (a time, a random name) can make two builds agree.
func runRelease(t *testing.T, srcDir, outDir, version string, p platform, env ...string) {
	t.Helper()
	cmd := exec.Command("go", "run", "./scripts/release", "-version", version, "-out", outDir, "-platforms", p.os+"/"+p.arch)
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release from %s: %v\n%s", srcDir, err, out)
	}
}

// copyModule copies what building the plugin needs (the root module's
// non-test Go files, go.mod and go.sum) into dst, leaving out nested modules,
// VCS metadata and build outputs.
func copyModule(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") || rel == "bin" || rel == "dist" || rel == "testdata" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		keep := rel == "go.mod" || rel == "go.sum" ||
			(strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go"))
		if !keep || !d.Type().IsRegular() {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, raw, 0o644)
	})
	if err != nil {
		t.Fatalf("copying the module: %v", err)
	}
}
