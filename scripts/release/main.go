// Command release builds the plugin's release artifacts into a directory:
// for each platform a zip named as Vault's own plugins are released
// (vault-plugin-auth-kubernetes_<version without v>_<os>_<arch>.zip, holding
// the binary vault-plugin-auth-kubernetes), the same binary unpacked beside
// it, and one <name>_<version>_SHA256SUMS file covering both. With -fips,
// each platform is built again with Go's FIPS 140-3 module, its files named
// <os>_<arch>_fips where the standard ones say <os>_<arch>.
//
// The builds are reproducible: the same source, version and Go toolchain
// give the same bytes on any machine and in any directory, so anyone can
// rebuild a release and compare its SHA-256 with the published one.
//
//	go run ./scripts/release -version v1.2.3 -out dist
package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

const (
	module = "github.com/kubeauth/vault-plugin-auth-kubernetes"
	name   = "vault-plugin-auth-kubernetes"
)

// zipTime is every zip entry's modification time: a build time would make
// two builds of the same source differ.
var zipTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// semver is what `vault plugin register -version` accepts, v-prefixed.
var semver = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// platform is one GOOS/GOARCH pair.
type platform struct{ os, arch string }

func parsePlatforms(s string) ([]platform, error) {
	var out []platform
	for _, f := range strings.Fields(strings.ReplaceAll(s, ",", " ")) {
		goos, goarch, ok := strings.Cut(f, "/")
		if !ok || goos == "" || goarch == "" {
			return nil, fmt.Errorf("platform %q is not GOOS/GOARCH", f)
		}
		out = append(out, platform{goos, goarch})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no platforms")
	}
	return out, nil
}

// artifactBase is the release name of one platform's artifacts, without
// extension: the version goes in without its "v", as HashiCorp's releases
// name theirs.
func artifactBase(version string, p platform) string {
	return fmt.Sprintf("%s_%s_%s_%s", name, strings.TrimPrefix(version, "v"), p.os, p.arch)
}

// fipsSuffix marks the artifacts of a platform built with Go's FIPS 140-3
// module: "<os>_<arch>_fips" stands where "<os>_<arch>" does, so each FIPS
// file sits beside the standard one and is never taken for it.
const fipsSuffix = "_fips"

// sumsName is the checksum file's name for a version.
func sumsName(version string) string {
	return fmt.Sprintf("%s_%s_SHA256SUMS", name, strings.TrimPrefix(version, "v"))
}

// buildArgs are the go build arguments of a reproducible build: no paths of
// the building machine (-trimpath), no VCS stamp (which would differ between
// a checkout and a source tarball), an empty build ID, and the version as
// the only thing stamped in.
func buildArgs(version, out string) []string {
	return []string{
		"build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X " + module + ".Version=" + version,
		"-o", out, "./cmd/" + name,
	}
}

// build is one binary of the release: a platform, and the FIPS 140-3
// module it is built with ("" for the standard build).
type build struct {
	platform
	fipsModule string
}

// base is the build's artifact name without extension.
func (b build) base(version string) string {
	if b.fipsModule != "" {
		return artifactBase(version, b.platform) + fipsSuffix
	}
	return artifactBase(version, b.platform)
}

// env is the build's environment on top of the caller's: GOFIPS140 only
// for a FIPS build, so the standard build's environment, and its bytes,
// are what they were before FIPS builds existed.
func (b build) env() []string {
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS="+b.os, "GOARCH="+b.arch, "GOFLAGS=")
	if b.fipsModule != "" {
		env = append(env, "GOFIPS140="+b.fipsModule)
	}
	return env
}

// builds are the standard build of every platform, then, with a FIPS 140-3
// module given, the FIPS build of every platform.
func builds(platforms []platform, fipsModule string) []build {
	var out []build
	for _, p := range platforms {
		out = append(out, build{platform: p})
	}
	if fipsModule != "" {
		for _, p := range platforms {
			out = append(out, build{platform: p, fipsModule: fipsModule})
		}
	}
	return out
}

// release builds every platform from the module in srcDir into outDir, and
// each again with the FIPS 140-3 module fipsModule when it is not "", and
// returns the checksum file's path.
func release(goTool, srcDir, outDir, version string, platforms []platform, fipsModule string) (string, error) {
	if !semver.MatchString(version) {
		return "", fmt.Errorf("version %q is not a v-prefixed semantic version (vX.Y.Z), which Vault's catalog requires", version)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	sums := map[string]string{}
	for _, p := range builds(platforms, fipsModule) {
		base := p.base(version)
		binRel := base + "/" + name
		bin := filepath.Join(outDir, filepath.FromSlash(binRel))
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			return "", err
		}
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", err
		}
		cmd := exec.Command(goTool, buildArgs(version, abs)...)
		cmd.Dir = srcDir
		cmd.Env = p.env()
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("building %s: %w", base, err)
		}
		raw, err := os.ReadFile(bin)
		if err != nil {
			return "", err
		}
		sums[binRel] = sha256Hex(raw)
		z, err := zipBinary(raw)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(outDir, base+".zip"), z, 0o644); err != nil {
			return "", err
		}
		sums[base+".zip"] = sha256Hex(z)
	}
	path := filepath.Join(outDir, sumsName(version))
	return path, os.WriteFile(path, []byte(formatSums(sums)), 0o644)
}

// zipBinary is a zip holding the binary as its only entry, executable, with
// a fixed time.
func zipBinary(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: zipTime}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(w, bytes.NewReader(raw)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// formatSums writes sums in sha256sum's format, sorted by file name, so that
// `sha256sum -c --ignore-missing` checks whichever of the files are present.
func formatSums(sums map[string]string) string {
	files := make([]string, 0, len(sums))
	for f := range sums {
		files = append(files, f)
	}
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "%s  %s\n", sums[f], f)
	}
	return b.String()
}

func main() {
	version := flag.String("version", "", "release version, vX.Y.Z")
	out := flag.String("out", "dist", "directory to write the artifacts into")
	platforms := flag.String("platforms", "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64", "GOOS/GOARCH pairs, space or comma separated")
	fipsModule := flag.String("fips", "", "also build every platform with this Go FIPS 140-3 module (a GOFIPS140 value such as v1.0.0), as <os>_<arch>"+fipsSuffix)
	flag.Parse()
	ps, err := parsePlatforms(*platforms)
	if err == nil {
		var sums string
		if sums, err = release("go", ".", *out, *version, ps, *fipsModule); err == nil {
			fmt.Println(sums)
			return
		}
	}
	fmt.Fprintln(os.Stderr, "release:", err)
	os.Exit(1)
}
