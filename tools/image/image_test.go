package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The release under test: `make image-check` sets both after `make image`.
func releaseUnderTest(t *testing.T) (dist, version string) {
	t.Helper()
	dist, version = os.Getenv("KUBEAUTH_DIST"), os.Getenv("KUBEAUTH_VERSION")
	if dist == "" || version == "" {
		t.Fatal("KUBEAUTH_DIST and KUBEAUTH_VERSION are unset: run `make image-check`, which builds the release and the image first")
	}
	return dist, version
}

// readSums reads a SHA256SUMS file into file name -> sha256.
func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
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

// onlyFile reads the image's single layer and returns the binary, failing
// on anything else in it.
func onlyFile(t *testing.T, img v1.Image) []byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var bin []byte
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case h.Name == "bin/" && h.Typeflag == tar.TypeDir:
		case h.Name == binPath && h.Typeflag == tar.TypeReg:
			if h.Mode != 0o755 || h.Uid != 0 {
				t.Errorf("%s: mode %o uid %d, want 0755 root", h.Name, h.Mode, h.Uid)
			}
			if bin, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("the image holds %s (type %c), want only %s", h.Name, h.Typeflag, binPath)
		}
	}
	if bin == nil {
		t.Fatalf("the image lacks %s", binPath)
	}
	return bin
}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// The image in dist is what the release promises: one manifest per linux
// architecture, each holding only the release binary of that architecture
// (its SHA-256 as SHA256SUMS lists it, its ELF machine the platform's), with
// the -install entry point; the binary for this machine's architecture runs,
// reports the version and installs itself printing the same SHA-256.
func TestImage(t *testing.T) {
	dist, version := releaseUnderTest(t)
	sums := readSums(t, filepath.Join(dist, name+"_"+strings.TrimPrefix(version, "v")+"_SHA256SUMS"))

	p, err := layout.FromPath(filepath.Join(dist, layoutName(version)))
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	topManifest, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	tagged := taggedIndex(t, topManifest, version)
	idx, err := top.ImageIndex(tagged)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}

	var archs []string
	ranHere := false
	for _, d := range im.Manifests {
		if d.Platform == nil || d.Platform.OS != "linux" {
			t.Fatalf("manifest %s: platform %+v, want linux", d.Digest, d.Platform)
		}
		arch := d.Platform.Architecture
		archs = append(archs, arch)
		t.Run(arch, func(t *testing.T) {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != "linux" || cf.Architecture != arch {
				t.Errorf("config platform %s/%s, want linux/%s", cf.OS, cf.Architecture, arch)
			}
			if want := []string{"/" + binPath, "-install", pluginDir}; !slices.Equal(cf.Config.Entrypoint, want) {
				t.Errorf("entry point %q, want %q", cf.Config.Entrypoint, want)
			}
			bin := onlyFile(t, img)
			sum := sha256.Sum256(bin)
			got := hex.EncodeToString(sum[:])
			listed := name + "_" + strings.TrimPrefix(version, "v") + "_linux_" + arch + "/" + name
			if sums[listed] == "" || got != sums[listed] {
				t.Fatalf("binary sha256 %s, SHA256SUMS lists %q for %s", got, sums[listed], listed)
			}
			ef, err := elf.NewFile(bytes.NewReader(bin))
			if err != nil {
				t.Fatalf("not an ELF binary: %v", err)
			}
			if want, ok := elfMachine[arch]; !ok || ef.Machine != want {
				t.Fatalf("ELF machine %v for %s (want %v)", ef.Machine, arch, want)
			}
			if arch != runtime.GOARCH {
				return
			}
			ranHere = true
			exe := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(exe, bin, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(exe, "-version").Output()
			if err != nil || strings.TrimSpace(string(out)) != version {
				t.Fatalf("-version: %q, %v; want %s", out, err, version)
			}
			plugins := t.TempDir()
			out, err = exec.Command(exe, "-install", plugins).Output()
			if err != nil || strings.TrimSpace(string(out)) != got {
				t.Fatalf("-install: %q, %v; want the sha256 %s", out, err, got)
			}
			installed, err := os.ReadFile(filepath.Join(plugins, name))
			if err != nil || !bytes.Equal(installed, bin) {
				t.Fatalf("installed copy differs from the image's binary (%v)", err)
			}
		})
	}
	slices.Sort(archs)
	if !slices.Equal(archs, []string{"amd64", "arm64"}) {
		t.Fatalf("platforms %v, want amd64 and arm64", archs)
	}
	if _, ok := elfMachine[runtime.GOARCH]; ok && !ranHere && !t.Failed() {
		t.Fatalf("no image for %s, so no binary was run", runtime.GOARCH)
	}
}

// Building the image twice from the same binaries gives the same digest.
func TestImageIsReproducible(t *testing.T) {
	dist, version := releaseUnderTest(t)
	digest := func(dir string) v1.Hash {
		t.Helper()
		p, err := layout.FromPath(dir)
		if err != nil {
			t.Fatal(err)
		}
		ii, err := p.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		m, err := ii.IndexManifest()
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		return taggedIndex(t, m, version)
	}
	// A second dist holding links to the same binaries.
	again := t.TempDir()
	for _, arch := range []string{"amd64", "arm64"} {
		src, err := filepath.Abs(binaryIn(dist, version, arch))
		if err != nil {
			t.Fatal(err)
		}
		dst := binaryIn(again, version, arch)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	out, err := build(again, version, []string{"amd64", "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := digest(filepath.Join(dist, layoutName(version))), digest(out); a != b {
		t.Fatalf("image digests differ: %s and %s", a, b)
	}
}

// taggedIndex is the digest of the one image index in index.json, tagged
// with the version. Anything else there must be an artifact referring to
// it: the SBOM `make release` attaches (tools/release checks its content).
func taggedIndex(t *testing.T, m *v1.IndexManifest, version string) v1.Hash {
	t.Helper()
	var found []v1.Hash
	for _, d := range m.Manifests {
		switch {
		case d.MediaType == types.OCIImageIndex && d.Annotations["org.opencontainers.image.ref.name"] == version:
			found = append(found, d.Digest)
		case d.MediaType == types.OCIManifestSchema1 && d.ArtifactType != "":
		default:
			t.Errorf("index.json lists %s (%s), neither the image nor an artifact", d.Digest, d.MediaType)
		}
	}
	if len(found) != 1 {
		t.Fatalf("index.json: %+v, want one index tagged %s", m.Manifests, version)
	}
	return found[0]
}
