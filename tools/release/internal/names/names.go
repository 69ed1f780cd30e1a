// Package names is how a release's files are named, in one place for the
// command that writes them and the one that verifies them. The binaries,
// zips and SHA256SUMS are named by scripts/release, the image layout by
// tools/image; the rest are this module's.
package names

import (
	"path"
	"strings"
)

// Plugin is the plugin's name, the stem of every file.
const Plugin = "vault-plugin-auth-kubernetes"

func stem(version string) string { return Plugin + "_" + strings.TrimPrefix(version, "v") }

// Sums is the checksum file.
func Sums(version string) string { return stem(version) + "_SHA256SUMS" }

// Signature is the detached signature of a file.
func Signature(file string) string { return file + ".sig" }

// Provenance is the in-toto statement.
func Provenance(version string) string { return stem(version) + "_provenance.intoto.json" }

// Layout is the OCI image layout directory.
func Layout(version string) string { return stem(version) + "_oci" }

// ImageSBOM is the title of the image's SBOM in its artifact.
func ImageSBOM(version string) string { return stem(version) + "_oci.sbom.cdx.json" }

// IsBinary says whether a name listed in SHA256SUMS is an unpacked binary
// ("<stem>_<os>_<arch>/vault-plugin-auth-kubernetes").
func IsBinary(version, name string) bool {
	dir, file := path.Split(name)
	return file == Plugin && strings.HasPrefix(dir, stem(version)+"_") && strings.Count(name, "/") == 1
}

// Platform is the "<os>_<arch>" of a binary's name.
func Platform(version, binary string) string {
	return strings.TrimPrefix(path.Dir(binary), stem(version)+"_")
}

// SBOM is the SBOM of a platform's binary.
func SBOM(version, platform string) string { return stem(version) + "_" + platform + ".sbom.cdx.json" }

// Zip is a platform's zip.
func Zip(version, platform string) string { return stem(version) + "_" + platform + ".zip" }

// Binary is a platform's unpacked binary.
func Binary(version, platform string) string {
	return stem(version) + "_" + platform + "/" + Plugin
}

// InLayout says whether a name listed in SHA256SUMS is a file of the
// image layout.
func InLayout(version, name string) bool { return strings.HasPrefix(name, Layout(version)+"/") }
