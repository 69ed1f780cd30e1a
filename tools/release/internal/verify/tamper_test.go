package verify

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/image"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/names"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/pgp"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/sums"
)

// gpgvOK runs Debian's gpgv, as an operator checks a signature, with the
// armored public key at keyFile, and says whether it accepted sig over
// file. Missing gpgv fails the test, naming it: a signature check that did
// not run is not one that passed.
func gpgvOK(t *testing.T, keyFile, sig, file string) bool {
	t.Helper()
	gpgv, err := exec.LookPath("gpgv")
	if err != nil {
		t.Fatal("gpgv is not installed: this test checks the release's signature as an operator does, with Debian's gpgv " +
			"(apt-get install -y gpgv; apt depends on it, so Debian and Ubuntu machines with apt have it)")
	}
	ring, err := pgp.Dearmor(readFile(t, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "key.gpg"), ring, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gpgv, "--keyring", filepath.Join(home, "key.gpg"), sig, file)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	out, err := cmd.CombinedOutput()
	t.Logf("gpgv %s: %v\n%s", filepath.Base(sig), err, out)
	return err == nil
}

// The signed release passes gpgv and every check of the verifier; the
// unsigned one says in one line that it is unsigned, has no signature
// file, and verifies as unsigned.
func TestSignedAndUnsignedReleases(t *testing.T) {
	b := release(t)
	for _, f := range []string{names.Sums(version), names.Provenance(version)} {
		if !gpgvOK(t, b.public, filepath.Join(b.signed, names.Signature(f)), filepath.Join(b.signed, f)) {
			t.Errorf("gpgv refuses the signature of %s", f)
		}
		if _, err := os.Stat(filepath.Join(b.unsigned, names.Signature(f))); err == nil {
			t.Errorf("the unsigned release has %s", names.Signature(f))
		}
	}
	if n := strings.Count(b.unsignedOutput, "unsigned:"); n != 1 {
		t.Errorf("make release without SIGNING_KEY printed %d lines saying it is unsigned, want 1:\n%s", n, b.unsignedOutput)
	}
	mustVerify(t, b.signed, b.public, 0)
	mustVerify(t, b.unsigned, "", 0)
}

// mustVerify runs scripts/verify-release, as the README says, and holds it
// to its exit status and verdict; every check line must be OK (or SKIP for
// the signatures when no key is given).
func mustVerify(t *testing.T, dir, key string, wantExit int) string {
	t.Helper()
	repo, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{dir}
	if key != "" {
		args = append(args, key)
	}
	out, err := exec.Command(filepath.Join(repo, "scripts", "verify-release"), args...).Output()
	exit := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		exit = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	verdict := lines[len(lines)-1]
	want := map[int]string{0: "VERIFIED: ", 1: "REFUSED: "}[wantExit]
	if key == "" && wantExit == 0 {
		want = "VERIFIED, UNSIGNED: "
	}
	if exit != wantExit || !strings.HasPrefix(verdict, want) {
		t.Fatalf("verify-release %v: exit %d, verdict %q; want %d, %q:\n%s", args, exit, verdict, wantExit, want, out)
	}
	for _, l := range lines[:len(lines)-1] {
		unsignedSkip := key == "" && strings.HasPrefix(l, "SKIP signature")
		if wantExit == 0 && !strings.HasPrefix(l, "OK ") && !unsignedSkip {
			t.Errorf("verify-release: %q in a release that verifies", l)
		}
	}
	return string(out)
}

// The zip holds the binary alone, executable, byte for byte.
func TestZipHoldsTheBinary(t *testing.T) {
	b := release(t)
	bin := readFile(t, filepath.Join(b.signed, names.Binary(version, "linux_amd64")))
	zr, err := zip.OpenReader(filepath.Join(b.signed, names.Zip(version, "linux_amd64")))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != names.Plugin || zr.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("zip entries: %+v, want only %s, mode 0755", zr.File, names.Plugin)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if inZip, err := io.ReadAll(rc); err != nil || !bytes.Equal(inZip, bin) {
		t.Fatalf("the zipped binary differs from the unpacked one (%v)", err)
	}
}

// linkCopy is a copy of the release directory whose files are hard links:
// a case replaces the file it changes (rewrite), never writes through a
// link into the release under test.
func linkCopy(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "release")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		return os.Link(path, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// rewrite replaces a release file with change(its bytes).
func rewrite(t *testing.T, dir, name string, change func([]byte) []byte) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name))
	raw := change(bytes.Clone(readFile(t, path)))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// resign lists a file's new digest in SHA256SUMS and signs SHA256SUMS
// again with the release's key: what a maintainer's mistake, not an
// attacker, would publish, so only the content checks can catch it.
func resign(t *testing.T, dir, name string) {
	t.Helper()
	priv := readFile(t, filepath.Join(filepath.Dir(rel.signed), "private.asc"))
	key, err := pgp.ReadSigningKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sumsName := names.Sums(version)
	listed, err := sums.Parse(readFile(t, filepath.Join(dir, sumsName)))
	if err != nil {
		t.Fatal(err)
	}
	if listed[name], err = sums.File(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
		t.Fatal(err)
	}
	rewrite(t, dir, sumsName, func([]byte) []byte { return sums.Format(listed) })
	sig, err := pgp.Sign(key, sums.Format(listed))
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, dir, names.Signature(sumsName), func([]byte) []byte { return sig })
}

// Every change to a signed release is refused by a check whose sentence
// names the changed file; where the change is to SHA256SUMS or the key,
// gpgv refuses it too.
func TestTamperedReleasesAreRefused(t *testing.T) {
	b := release(t)
	sumsName, bin := names.Sums(version), names.Binary(version, "linux_amd64")
	sbomName, zipName := names.SBOM(version, "linux_amd64"), names.Zip(version, "linux_amd64")
	flip := func(raw []byte) []byte { raw[len(raw)/2] ^= 0x20; return raw }
	cases := []struct {
		name       string
		change     func(t *testing.T, dir string)
		otherKey   bool
		wantCheck  string // the check that refuses it (others may too)
		wantFile   string // the file its sentence names
		gpgvRefuse bool   // gpgv refuses SHA256SUMS too
	}{
		{"SHA256SUMS lists another digest", func(t *testing.T, dir string) {
			rewrite(t, dir, sumsName, func(raw []byte) []byte {
				return bytes.Replace(raw, []byte(sums.Bytes(readFile(t, filepath.Join(dir, zipName)))), []byte(strings.Repeat("0", 64)), 1)
			})
		}, false, "signature", sumsName, true},
		{"SHA256SUMS with a line added", func(t *testing.T, dir string) {
			rewrite(t, dir, sumsName, func(raw []byte) []byte { return append(raw, strings.Repeat("1", 64)+"  extra\n"...) })
		}, false, "signature", sumsName, true},
		{"the binary changed", func(t *testing.T, dir string) { rewrite(t, dir, bin, flip) }, false, "digest", bin, false},
		{"the zip changed", func(t *testing.T, dir string) { rewrite(t, dir, zipName, flip) }, false, "digest", zipName, false},
		{"signed by another key", func(*testing.T, string) {}, true, "signature", names.Signature(sumsName), true},
		{"the signature removed", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, names.Signature(sumsName))); err != nil {
				t.Fatal(err)
			}
		}, false, "signature", names.Signature(sumsName), false},
		{"an SBOM that does not match its binary, listed and signed", func(t *testing.T, dir string) {
			rewrite(t, dir, sbomName, func(raw []byte) []byte {
				return bytes.Replace(raw, []byte(`"name": "golang.org/x/`), []byte(`"name": "golang.org/y/`), 1)
			})
			resign(t, dir, sbomName)
		}, false, "sbom", sbomName, false},
		{"the image's SBOM replaced by another's, listed and signed", func(t *testing.T, dir string) {
			layout := filepath.Join(dir, names.Layout(version))
			rewrite(t, dir, names.Layout(version)+"/index.json", func(raw []byte) []byte { return raw }) // unlink before the layout writes it
			img, err := image.Read(layout, version)
			if err != nil {
				t.Fatal(err)
			}
			if err := image.AttachSBOM(layout, img, "x.cdx.json", readFile(t, filepath.Join(dir, sbomName))); err != nil {
				t.Fatal(err)
			}
			resignLayout(t, dir)
		}, false, "sbom", names.Layout(version), false},
		{"the provenance changed", func(t *testing.T, dir string) {
			rewrite(t, dir, names.Provenance(version), func(raw []byte) []byte {
				return bytes.Replace(raw, []byte(sums.Bytes(readFile(t, filepath.Join(dir, bin)))), []byte(strings.Repeat("0", 64)), 1)
			})
		}, false, "signature", names.Provenance(version), false},
		{"a file SHA256SUMS does not list", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, names.Zip(version, "linux_arm64")), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false, "digest", names.Zip(version, "linux_arm64"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := linkCopy(t, b.signed)
			tc.change(t, dir)
			key := b.public
			if tc.otherKey {
				key = b.otherKey
			}
			results, err := Release(dir, key)
			if err != nil {
				t.Fatal(err)
			}
			if !refusedNaming(results, tc.wantCheck, tc.wantFile) {
				t.Errorf("no failed %s check names %s:\n%s", tc.wantCheck, tc.wantFile, format(results))
			}
			if tc.gpgvRefuse && gpgvOK(t, key, filepath.Join(dir, names.Signature(sumsName)), filepath.Join(dir, sumsName)) {
				t.Errorf("gpgv accepts %s", sumsName)
			}
		})
	}
	// The command's verdict and exit status for one of them.
	dir := linkCopy(t, b.signed)
	rewrite(t, dir, bin, flip)
	if out := mustVerify(t, dir, b.public, 1); !strings.Contains(out, "FAIL digest     "+bin) {
		t.Errorf("verify-release does not name %s:\n%s", bin, out)
	}
}

// resignLayout lists every file of the image layout in SHA256SUMS, as
// `make release` does, and signs it again with the release's key.
func resignLayout(t *testing.T, dir string) {
	t.Helper()
	root := filepath.Join(dir, names.Layout(version))
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err == nil {
			resign(t, dir, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func refusedNaming(results []Result, check, file string) bool {
	for _, r := range results {
		if r.Status == Fail && r.Check == check && strings.Contains(r.Detail, file) {
			return true
		}
	}
	return false
}

func format(results []Result) string {
	var b strings.Builder
	for _, r := range results {
		b.WriteString(string(r.Status) + " " + r.Check + " " + r.Detail + "\n")
	}
	return b.String()
}
