// Command attest completes a release that scripts/release (and, for the
// image, tools/image) wrote into a directory: a CycloneDX SBOM beside each
// binary, the image's SBOM attached to the image, SHA256SUMS over all of it,
// the in-toto provenance, and, given a key, detached OpenPGP signatures of
// SHA256SUMS and of the provenance. `make release` runs it.
//
//	go run ./cmd/attest -src ../.. -dist ../../dist -version v1.2.3 [-signing-key key.asc]
package main

import (
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/image"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/names"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/provenance"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/sbom"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/sums"
)

// release is the directory being completed.
type release struct {
	src, dist, version string
	built              sums.Sums // what scripts/release listed: zips and binaries
	all                sums.Sums // what SHA256SUMS will list
}

func main() {
	r := release{}
	flag.StringVar(&r.src, "src", ".", "the source tree the release was built from (its git commit goes into the provenance)")
	flag.StringVar(&r.dist, "dist", "dist", "the release directory")
	flag.StringVar(&r.version, "version", "", "release version, vX.Y.Z")
	key := flag.String("signing-key", "", "file with an armored OpenPGP private key; empty: an unsigned release")
	flag.Parse()
	if err := r.run(*key); err != nil {
		fmt.Fprintln(os.Stderr, "attest:", err)
		os.Exit(1)
	}
}

func (r *release) run(keyFile string) error {
	var signer *signerKey
	if keyFile != "" {
		var err error
		if signer, err = readKey(keyFile); err != nil {
			return err
		}
	}
	if err := r.readBuilt(); err != nil {
		return err
	}
	if err := r.writeSBOMs(); err != nil {
		return err
	}
	imageDigest, err := r.attachImageSBOM()
	if err != nil {
		return err
	}
	if err := r.addLayout(); err != nil {
		return err
	}
	sumsFile := names.Sums(r.version)
	if err := r.write(sumsFile, sums.Format(r.all)); err != nil {
		return err
	}
	st, err := r.provenance(imageDigest, signer != nil)
	if err != nil {
		return err
	}
	if err := r.write(names.Provenance(r.version), st); err != nil {
		return err
	}
	return r.sign(signer, sumsFile, names.Provenance(r.version))
}

// readBuilt reads scripts/release's SHA256SUMS and checks the files still
// have those digests.
func (r *release) readBuilt() error {
	path := filepath.Join(r.dist, names.Sums(r.version))
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w (run scripts/release first)", err)
	}
	if r.built, err = sums.Parse(raw); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	r.all = sums.Sums{}
	for name, want := range r.built {
		if names.InLayout(r.version, name) || strings.HasSuffix(name, ".sbom.cdx.json") {
			continue // a previous attest's: written again below
		}
		got, err := sums.File(filepath.Join(r.dist, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s changed since it was built (sha256 %s, SHA256SUMS says %s)", name, got, want)
		}
		r.all[name] = want
	}
	return nil
}

// binaries are the unpacked binaries' names, sorted.
func (r *release) binaries() []string {
	var out []string
	for name := range r.all {
		if names.IsBinary(r.version, name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (r *release) writeSBOMs() error {
	for _, bin := range r.binaries() {
		raw, err := sbom.ForBinary(filepath.Join(r.dist, filepath.FromSlash(bin)), r.version)
		if err != nil {
			return err
		}
		name := names.SBOM(r.version, names.Platform(r.version, bin))
		if err := r.write(name, raw); err != nil {
			return err
		}
		r.all[name] = sums.Bytes(raw)
	}
	return nil
}

// attachImageSBOM writes the image's SBOM into its layout when the layout
// exists, after checking the image holds this release's binaries, and
// returns the image index's digest ("" without an image).
func (r *release) attachImageSBOM() (string, error) {
	dir := filepath.Join(r.dist, names.Layout(r.version))
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		fmt.Println("no image in", names.Layout(r.version), "(make release builds it when RELEASE_PLATFORMS has linux platforms)")
		return "", nil
	}
	img, err := image.Read(dir, r.version)
	if err != nil {
		return "", fmt.Errorf("%s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp("", "attest-image-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	var bins []sbom.ImageBinary
	for arch, raw := range img.Binaries {
		bin := names.Binary(r.version, "linux_"+arch)
		if r.all[bin] != sums.Bytes(raw) {
			return "", fmt.Errorf("the image's linux/%s binary is not %s of this release: build the image again", arch, bin)
		}
		path := filepath.Join(tmp, arch, names.Plugin)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(path, raw, 0o755); err != nil {
			return "", err
		}
		bins = append(bins, sbom.ImageBinary{Arch: arch, Path: path})
	}
	sort.Slice(bins, func(i, j int) bool { return bins[i].Arch < bins[j].Arch })
	doc, err := sbom.ForImage(names.Plugin, r.version, img.Index.Digest.String(), bins)
	if err != nil {
		return "", err
	}
	return img.Index.Digest.Hex, image.AttachSBOM(dir, img, names.ImageSBOM(r.version), doc)
}

// addLayout lists every file of the image layout in SHA256SUMS, so the
// signature covers the image and its SBOM too.
func (r *release) addLayout() error {
	root := filepath.Join(r.dist, names.Layout(r.version))
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(r.dist, path)
		if err != nil {
			return err
		}
		sum, err := sums.File(path)
		r.all[filepath.ToSlash(rel)] = sum
		return err
	})
}

func (r *release) write(name string, raw []byte) error {
	return os.WriteFile(filepath.Join(r.dist, filepath.FromSlash(name)), raw, 0o644)
}

// provenance is the statement: every file SHA256SUMS lists outside the
// image layout, SHA256SUMS itself, and the image by its index's digest.
func (r *release) provenance(imageDigest string, signed bool) ([]byte, error) {
	subjects := map[string]string{names.Sums(r.version): sums.Bytes(sums.Format(r.all))}
	for name, sum := range r.all {
		if !names.InLayout(r.version, name) {
			subjects[name] = sum
		}
	}
	if imageDigest != "" {
		subjects[names.Layout(r.version)] = imageDigest
	}
	in := provenance.InternalParameters{Builds: map[string]map[string]string{}}
	ext := provenance.ExternalParameters{Version: r.version, Signed: signed}
	for _, bin := range r.binaries() {
		bi, err := buildinfo.ReadFile(filepath.Join(r.dist, filepath.FromSlash(bin)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bin, err)
		}
		in.GoVersion = bi.GoVersion
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		in.Builds[bin] = settings
		if m := settings["GOFIPS140"]; m != "" {
			// A platform's FIPS build: the platform is listed once, from its
			// standard build, and the module beside the platforms.
			ext.FIPSModule = m
			continue
		}
		ext.Platforms = append(ext.Platforms, settings["GOOS"]+"/"+settings["GOARCH"])
	}
	return provenance.Encode(provenance.New(subjects, sourceOf(r.src), ext, in))
}

// sourceOf is the git commit of the tree at dir and whether it is clean;
// a tree that is not a git checkout has no commit.
func sourceOf(dir string) provenance.Source {
	commit, err := exec.Command("git", "-C", dir, "rev-parse", "--verify", "HEAD").Output()
	if err != nil {
		return provenance.Source{}
	}
	status, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=normal").Output()
	return provenance.Source{Commit: strings.TrimSpace(string(commit)), Clean: err == nil && len(status) == 0}
}
