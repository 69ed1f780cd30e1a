// Package sbom writes a release's CycloneDX SBOMs, one per binary and one
// for the image, with cyclonedx-gomod's binary mode, and holds an SBOM
// against a binary's own build information (debug/buildinfo): the same
// modules, versions and sums, the same Go toolchain and main module
// version, nothing missing and nothing extra.
package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/CycloneDX/cyclonedx-gomod/pkg/generate/bin"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
)

// generatorModule is the library that writes the SBOMs, named in each
// SBOM's metadata.tools with the version this tool was built with.
const generatorModule = "github.com/CycloneDX/cyclonedx-gomod"

// serialSpace is the UUID namespace of the SBOMs' serial numbers: an
// SBOM's serial number is derived from what it describes, so that two
// builds of the same release write the same bytes.
var serialSpace = uuid.MustParse("6f1c3a52-3b7e-4a4e-9a57-2f61f0a0c9d1")

// ForBinary is the CycloneDX JSON SBOM of the Go binary at path, released
// as version. Module package URLs carry no goos/goarch qualifiers: the
// library would fill them from the machine that runs it, not the binary's
// platform, which is in the metadata's build:env properties instead.
func ForBinary(path, version string) ([]byte, error) {
	bom, err := binaryBOM(path, version)
	if err != nil {
		return nil, err
	}
	return encode(bom)
}

func binaryBOM(path, version string) (*cdx.BOM, error) {
	g, err := bin.NewGenerator(path,
		bin.WithIncludeStdlib(true),
		bin.WithVersionOverride(version),
		bin.WithShortPURLS(true),
		bin.WithLogger(zerolog.Nop()))
	if err != nil {
		return nil, err
	}
	bom, err := g.Generate()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	bom.SerialNumber = uuid.NewSHA1(serialSpace, raw).URN()
	bom.Metadata.Tools = tools()
	return bom, nil
}

// tools names the SBOM generator and its version.
func tools() *cdx.ToolsChoice {
	version := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == generatorModule {
				version = d.Version
			}
		}
	}
	return &cdx.ToolsChoice{Components: &[]cdx.Component{{
		Type: cdx.ComponentTypeApplication, Name: "cyclonedx-gomod", Group: "github.com/CycloneDX", Version: version,
	}}}
}

// encode is the SBOM as indented JSON, ending in a newline.
func encode(bom *cdx.BOM) ([]byte, error) {
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(true).SetEscapeHTML(false)
	if err := enc.Encode(bom); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ImageBinary is one platform's binary in the image.
type ImageBinary struct {
	Arch string // linux architecture, as in the image's platform
	Path string // the binary, written out of the image's layer
}

// ForImage is the CycloneDX JSON SBOM of the image: a container component
// for the image, and in it one application component per platform's binary
// with that binary's modules nested in it. Every bom-ref is prefixed with
// the architecture, since both binaries hold the same modules.
func ForImage(name, version, imageDigest string, bins []ImageBinary) ([]byte, error) {
	image := &cdx.Component{
		BOMRef: "image", Type: cdx.ComponentTypeContainer, Name: name, Version: version,
		Hashes: &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: strings.TrimPrefix(imageDigest, "sha256:")}},
	}
	var apps []cdx.Component
	for _, b := range bins {
		bom, err := binaryBOM(b.Path, version)
		if err != nil {
			return nil, err
		}
		apps = append(apps, platformComponent(b.Arch, bom))
	}
	bom := cdx.NewBOM()
	bom.SerialNumber = uuid.NewSHA1(serialSpace, []byte(imageDigest)).URN()
	bom.Metadata = &cdx.Metadata{Component: image, Tools: tools()}
	bom.Components = &apps
	return encode(bom)
}

// platformComponent is a binary's SBOM folded into one component: its main
// module as the application, its build properties, and its modules nested.
func platformComponent(arch string, bom *cdx.BOM) cdx.Component {
	app := *bom.Metadata.Component
	app.BOMRef = arch + ":" + app.BOMRef
	app.Properties = bom.Metadata.Properties
	mods := make([]cdx.Component, 0, len(*bom.Components))
	for _, c := range *bom.Components {
		c.BOMRef = arch + ":" + c.BOMRef
		mods = append(mods, c)
	}
	app.Components = &mods
	return app
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
