// Command image writes the plugin's OCI image, built from the release
// binaries without a container daemon: a multi-platform image (linux/amd64,
// linux/arm64) that holds only the plugin binary, whose entry point copies
// it into Vault's plugin directory (-install), so an init container needs no
// shell. It is written as an OCI image layout directory, tagged with the
// version, for any OCI tool to push.
//
//	go run . -dist ../../dist -version v1.2.3
//
// It is a module of its own so that the plugin's go.mod does not carry
// go-containerregistry.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	name = "vault-plugin-auth-kubernetes"
	// binPath is where the image holds the binary.
	binPath = "bin/" + name
	// pluginDir is the plugin directory the entry point installs into: the
	// path docs/install.md's Helm values mount the shared volume at.
	pluginDir = "/vault/plugins"
	// user is the official Vault image's vault user and group, so that the
	// installed file belongs to the user Vault runs as unless the pod says
	// otherwise.
	user = "100:1000"
)

// epoch is every timestamp in the image: a build time would change the
// digest of every rebuild.
var epoch = time.Unix(0, 0).UTC()

// layoutName is the OCI layout directory's name under dist for a version.
func layoutName(version string) string {
	return fmt.Sprintf("%s_%s_oci", name, strings.TrimPrefix(version, "v"))
}

// binaryIn is the release binary of a platform, as scripts/release lays it
// out under dist.
func binaryIn(dist, version, arch string) string {
	return filepath.Join(dist, fmt.Sprintf("%s_%s_linux_%s", name, strings.TrimPrefix(version, "v"), arch), name)
}

// layerTar is the image's only layer: the bin directory and the binary,
// owned by root, with fixed times.
func layerTar(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdrs := []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX},
		{Typeflag: tar.TypeReg, Name: binPath, Mode: 0o755, Size: int64(len(bin)), ModTime: epoch, Format: tar.FormatPAX},
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// platformImage is the image for linux/arch around the binary.
func platformImage(bin []byte, arch, version string) (v1.Image, error) {
	raw, err := layerTar(bin)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   v1.Time{Time: epoch},
		CreatedBy: "vault-plugin-auth-kubernetes release " + version,
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		Entrypoint: []string{"/" + binPath, "-install", pluginDir},
		User:       user,
		Labels: map[string]string{
			"org.opencontainers.image.title":   name,
			"org.opencontainers.image.version": version,
		},
	}
	return mutate.ConfigFile(img, cf)
}

// build writes the OCI layout for the version's linux binaries under dist
// and returns its path.
func build(dist, version string, archs []string) (string, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range archs {
		bin, err := os.ReadFile(binaryIn(dist, version, arch))
		if err != nil {
			return "", fmt.Errorf("the release binary for linux/%s (run make release first): %w", arch, err)
		}
		img, err := platformImage(bin, arch, version)
		if err != nil {
			return "", fmt.Errorf("linux/%s: %w", arch, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	out := filepath.Join(dist, layoutName(version))
	// A layout only grows when written to; start from nothing so the
	// directory holds this build alone.
	if err := os.RemoveAll(out); err != nil {
		return "", err
	}
	p, err := layout.Write(out, mutate.IndexMediaType(empty.Index, types.OCIImageIndex))
	if err != nil {
		return "", err
	}
	return out, p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": version,
	}))
}

func main() {
	dist := flag.String("dist", "dist", "directory holding the release binaries; the layout is written into it")
	version := flag.String("version", "", "release version, vX.Y.Z")
	archs := flag.String("archs", "amd64 arm64", "linux architectures to include")
	flag.Parse()
	out, err := build(*dist, *version, strings.Fields(*archs))
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Println(out)
}
