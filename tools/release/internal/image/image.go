// Package image reads the release's OCI image layout (written by
// tools/image) and attaches the image's SBOM to it as an OCI artifact: an
// image manifest of artifactType application/vnd.cyclonedx+json whose
// subject is the image's index, stored in the same layout and listed in
// its index.json, where OCI tools look for an image's referrers.
package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// SBOMType is the artifact type and layer media type of the SBOM.
	SBOMType = "application/vnd.cyclonedx+json"
	// binPath is where the image holds the binary (tools/image).
	binPath = "bin/vault-plugin-auth-kubernetes"
	// refName is the annotation that tags the image with the version.
	refName = "org.opencontainers.image.ref.name"
	// maxBinary bounds the binary read out of a layer.
	maxBinary = 512 << 20
)

// emptyConfig is the OCI empty descriptor an artifact's config points at.
var emptyConfig = []byte("{}")

// Image is the release's image in a layout: its index's descriptor and
// each platform's binary, by linux architecture.
type Image struct {
	Index    v1.Descriptor
	Binaries map[string][]byte
}

// Read opens the image tagged version in the layout at dir.
func Read(dir, version string) (*Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	top, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	desc, err := tagged(top, version)
	if err != nil {
		return nil, err
	}
	idx, err := top.ImageIndex(desc.Digest)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	out := &Image{Index: desc, Binaries: map[string][]byte{}}
	for _, d := range im.Manifests {
		if d.Platform == nil || d.Platform.OS != "linux" {
			return nil, fmt.Errorf("manifest %s is not for linux", d.Digest)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		if out.Binaries[d.Platform.Architecture], err = binary(img); err != nil {
			return nil, fmt.Errorf("linux/%s: %w", d.Platform.Architecture, err)
		}
	}
	return out, nil
}

// tagged is the one index in index.json tagged version.
func tagged(top v1.ImageIndex, version string) (v1.Descriptor, error) {
	m, err := top.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	var found []v1.Descriptor
	for _, d := range m.Manifests {
		if d.Annotations[refName] == version && d.MediaType == types.OCIImageIndex {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		return v1.Descriptor{}, fmt.Errorf("index.json has %d image indexes tagged %s, want one", len(found), version)
	}
	return found[0], nil
}

// binary is the image's binary, from its only layer.
func binary(img v1.Image) ([]byte, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("the layer lacks %s", binPath)
		}
		if err != nil {
			return nil, err
		}
		if h.Name == binPath && h.Typeflag == tar.TypeReg {
			return io.ReadAll(io.LimitReader(tr, maxBinary))
		}
	}
}

// AttachSBOM stores sbom in the layout as an artifact referring to the
// image's index, replacing any SBOM attached before.
func AttachSBOM(dir string, img *Image, title string, sbom []byte) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		return err
	}
	if err := removeSBOMs(p, img.Index.Digest); err != nil {
		return err
	}
	cfg, err := writeBlob(p, emptyConfig, types.OCIEmptyJSON)
	if err != nil {
		return err
	}
	cfg.Data = emptyConfig
	layer, err := writeBlob(p, sbom, SBOMType)
	if err != nil {
		return err
	}
	layer.Annotations = map[string]string{"org.opencontainers.image.title": title}
	subject := v1.Descriptor{MediaType: img.Index.MediaType, Size: img.Index.Size, Digest: img.Index.Digest}
	raw, err := json.Marshal(v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: SBOMType,
		Config: cfg, Layers: []v1.Descriptor{layer}, Subject: &subject,
	})
	if err != nil {
		return err
	}
	man, err := writeBlob(p, raw, types.OCIManifestSchema1)
	if err != nil {
		return err
	}
	man.ArtifactType = SBOMType
	return p.AppendDescriptor(man)
}

func writeBlob(p layout.Path, raw []byte, mt types.MediaType) (v1.Descriptor, error) {
	h, n, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Size: n, Digest: h}, p.WriteBlob(h, io.NopCloser(bytes.NewReader(raw)))
}

// removeSBOMs drops the SBOM artifacts referring to subject from
// index.json, so that attaching twice leaves one.
func removeSBOMs(p layout.Path, subject v1.Hash) error {
	refs, err := referrers(p, subject)
	if err != nil {
		return err
	}
	drop := map[v1.Hash]bool{}
	for _, r := range refs {
		drop[r.desc.Digest] = true
	}
	return p.RemoveDescriptors(func(d v1.Descriptor) bool { return drop[d.Digest] })
}

// referrer is an SBOM artifact in the layout and its manifest.
type referrer struct {
	desc     v1.Descriptor
	manifest *v1.Manifest
}

// referrers are the SBOM artifacts in index.json whose subject is subject.
func referrers(p layout.Path, subject v1.Hash) ([]referrer, error) {
	top, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []referrer
	for _, d := range m.Manifests {
		if d.MediaType != types.OCIManifestSchema1 || d.ArtifactType != SBOMType {
			continue
		}
		raw, err := p.Bytes(d.Digest)
		if err != nil {
			return nil, err
		}
		man, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("artifact %s: %w", d.Digest, err)
		}
		if man.Subject != nil && man.Subject.Digest == subject {
			out = append(out, referrer{d, man})
		}
	}
	return out, nil
}

// SBOM is the one SBOM attached to the image.
func SBOM(dir string, img *Image) ([]byte, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	refs, err := referrers(p, img.Index.Digest)
	if err != nil {
		return nil, err
	}
	if len(refs) != 1 {
		return nil, fmt.Errorf("%d SBOM artifacts refer to the image %s, want one", len(refs), img.Index.Digest)
	}
	man := refs[0].manifest
	if man.ArtifactType != SBOMType || len(man.Layers) != 1 || man.Layers[0].MediaType != SBOMType {
		return nil, fmt.Errorf("the SBOM artifact %s is not one %s layer", refs[0].desc.Digest, SBOMType)
	}
	raw, err := p.Bytes(man.Layers[0].Digest)
	if err != nil {
		return nil, err
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(raw)); got != man.Layers[0].Digest {
		return nil, fmt.Errorf("the SBOM blob's digest is %s, its artifact says %s", got, man.Layers[0].Digest)
	}
	return raw, nil
}

// LayoutName is the OCI layout directory's name for a version (as
// tools/image names it).
func LayoutName(version string) string {
	return "vault-plugin-auth-kubernetes_" + strings.TrimPrefix(version, "v") + "_oci"
}
