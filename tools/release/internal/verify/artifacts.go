package verify

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/image"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/names"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/provenance"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/sbom"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/sums"
)

// checkSBOMs holds each platform's SBOM against its binary, read unpacked
// or out of its zip (an operator may download only the zip).
func (r *run) checkSBOMs() {
	for _, bin := range r.listedBinaries() {
		platform := names.Platform(r.version, bin)
		sbomName := names.SBOM(r.version, platform)
		if !r.present(sbomName) {
			continue
		}
		raw, from, err := r.binary(platform)
		if err != nil {
			r.add(Fail, "sbom", "%s: %v", sbomName, err)
			continue
		}
		if raw == nil {
			r.add(Skip, "sbom", "%s: not checked, neither %s nor %s is in %s", sbomName, bin, names.Zip(r.version, platform), r.dir)
			continue
		}
		doc, err := r.read(sbomName)
		if err != nil {
			r.add(Fail, "sbom", "%s cannot be read: %v", sbomName, err)
			continue
		}
		bom, err := sbom.Parse(doc)
		if err == nil {
			err = sbom.CheckBinary(bom, raw, r.version)
		}
		if err != nil {
			r.add(Fail, "sbom", "%s does not describe %s: %v", sbomName, from, err)
			continue
		}
		r.add(OK, "sbom", "%s describes %s: the same modules, versions, sums and Go toolchain", sbomName, from)
	}
}

func (r *run) listedBinaries() []string {
	var out []string
	for f := range r.listed {
		if names.IsBinary(r.version, f) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// binary is a platform's binary, unpacked or out of its zip, with where it
// came from; nil when neither is present. The zip's binary must be the one
// SHA256SUMS lists.
func (r *run) binary(platform string) (raw []byte, from string, err error) {
	bin := names.Binary(r.version, platform)
	if r.present(bin) {
		raw, err = r.read(bin)
		return raw, bin, err
	}
	z := names.Zip(r.version, platform)
	if !r.present(z) {
		return nil, "", nil
	}
	from = "the binary in " + z
	zr, err := zip.OpenReader(filepath.Join(r.dir, z))
	if err != nil {
		return nil, from, fmt.Errorf("%s is not a zip: %w", z, err)
	}
	defer func() { _ = zr.Close() }()
	if len(zr.File) != 1 || zr.File[0].Name != names.Plugin {
		return nil, from, fmt.Errorf("%s holds %d files, want only %s", z, len(zr.File), names.Plugin)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		return nil, from, err
	}
	defer rc.Close()
	if raw, err = io.ReadAll(io.LimitReader(rc, maxFile)); err != nil {
		return nil, from, err
	}
	if sums.Bytes(raw) != r.listed[bin] {
		return nil, from, fmt.Errorf("%s is not %s as %s lists it", from, bin, names.Sums(r.version))
	}
	return raw, from, nil
}

// checkProvenance checks the statement's signature and holds each of its
// subjects that is present to the file's digest (the image by its index).
func (r *run) checkProvenance() {
	name := names.Provenance(r.version)
	if !r.present(name) {
		r.add(Skip, "provenance", "%s is not in %s and was not checked", name, r.dir)
		return
	}
	raw, ok := r.signedFile(name)
	if !ok {
		return
	}
	st, err := provenance.Parse(raw)
	if err != nil {
		r.add(Fail, "provenance", "%s is not the release's provenance: %v", name, err)
		return
	}
	checked := 0
	for _, s := range st.Subject {
		got, ok := r.subjectDigest(s.Name)
		if !ok {
			continue
		}
		checked++
		if got != s.Digest["sha256"] {
			r.add(Fail, "provenance", "%s gives %s the SHA-256 %s, the file's is %s: they are not from the same build", name, s.Name, s.Digest["sha256"], got)
		}
	}
	if checked == 0 {
		r.add(Fail, "provenance", "%s names none of the files in %s", name, r.dir)
		return
	}
	r.add(OK, "provenance", "%s names %d of the files present with their digests (source %s)", name, checked, sourceLine(st))
}

// subjectDigest is the digest of what a subject names, if present.
func (r *run) subjectDigest(subject string) (string, bool) {
	if subject == names.Layout(r.version) {
		img, err := image.Read(filepath.Join(r.dir, subject), r.version)
		if err != nil {
			return "", false
		}
		return img.Index.Digest.Hex, true
	}
	if strings.Contains(subject, "..") || !r.present(subject) {
		return "", false
	}
	raw, err := r.read(subject)
	if err != nil {
		return "", false
	}
	return sums.Bytes(raw), true
}

func sourceLine(st provenance.Statement) string {
	deps := st.Predicate.BuildDefinition.ResolvedDependencies
	if len(deps) == 0 {
		return "not named"
	}
	commit := deps[0].Digest["gitCommit"]
	if commit == "" {
		commit = "unknown commit"
	}
	if clean, _ := deps[0].Annotations["treeClean"].(bool); !clean {
		return commit + ", tree not clean"
	}
	return commit + ", clean tree"
}

// checkImage holds the image's binaries to SHA256SUMS and its attached
// SBOM to its binaries.
func (r *run) checkImage() {
	layout := names.Layout(r.version)
	dir := filepath.Join(r.dir, layout)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return
	}
	img, err := image.Read(dir, r.version)
	if err != nil {
		r.add(Fail, "image", "%s is not the release's image: %v", layout, err)
		return
	}
	archs := make([]string, 0, len(img.Binaries))
	for arch := range img.Binaries {
		archs = append(archs, arch)
	}
	sort.Strings(archs)
	for _, arch := range archs {
		bin := names.Binary(r.version, "linux_"+arch)
		if got := sums.Bytes(img.Binaries[arch]); got != r.listed[bin] {
			r.add(Fail, "image", "the linux/%s binary in %s has SHA-256 %s, but %s lists %q for %s", arch, layout, got, names.Sums(r.version), r.listed[bin], bin)
			continue
		}
		r.add(OK, "image", "the linux/%s binary in %s is %s", arch, layout, bin)
	}
	r.checkImageSBOM(dir, img)
}

func (r *run) checkImageSBOM(dir string, img *image.Image) {
	title := names.ImageSBOM(r.version)
	raw, err := image.SBOM(dir, img)
	var bom *cdx.BOM
	if err == nil {
		bom, err = sbom.Parse(raw)
	}
	if err == nil {
		err = sbom.CheckImage(bom, img.Binaries, r.version)
	}
	if err != nil {
		r.add(Fail, "sbom", "the SBOM attached to the image in %s (%s) does not describe the image: %v", names.Layout(r.version), title, err)
		return
	}
	r.add(OK, "sbom", "the SBOM attached to the image in %s describes each of its binaries", names.Layout(r.version))
}
