package sbom

import (
	"bytes"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// maxProblems bounds how many differences one refusal lists.
const maxProblems = 5

// propPrefix is the namespace of cyclonedx-gomod's properties.
const propPrefix = "cdx:gomod:"

// module is what an SBOM and a binary's build information must agree on.
type module struct{ version, sha256 string }

// Parse reads a CycloneDX JSON SBOM.
func Parse(raw []byte) (*cdx.BOM, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(raw), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, fmt.Errorf("not CycloneDX JSON: %w", err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.Metadata == nil || bom.Metadata.Component == nil {
		return nil, errors.New("not a CycloneDX SBOM with a metadata.component")
	}
	return &bom, nil
}

// CheckBinary holds a binary's SBOM against the binary: its main module and
// version, its Go toolchain, its SHA-256, and every module with its version
// and sum. The error lists the differences.
func CheckBinary(bom *cdx.BOM, bin []byte, version string) error {
	var comps []cdx.Component
	if bom.Components != nil {
		comps = *bom.Components
	}
	return checkApp(*bom.Metadata.Component, bom.Metadata.Properties, comps, bin, version)
}

// CheckImage holds the image's SBOM against its binaries, by architecture:
// one application component per binary, nothing more or less.
func CheckImage(bom *cdx.BOM, bins map[string][]byte, version string) error {
	if bom.Metadata.Component.Type != cdx.ComponentTypeContainer || bom.Metadata.Component.Version != version {
		return fmt.Errorf("describes %s %s %s, want the container image %s", bom.Metadata.Component.Type, bom.Metadata.Component.Name, bom.Metadata.Component.Version, version)
	}
	apps := map[string]cdx.Component{}
	if bom.Components != nil {
		for _, c := range *bom.Components {
			arch, _, _ := strings.Cut(c.BOMRef, ":")
			if _, dup := apps[arch]; dup {
				return fmt.Errorf("lists the linux/%s binary twice", arch)
			}
			apps[arch] = c
		}
	}
	for arch, bin := range bins {
		app, ok := apps[arch]
		if !ok {
			return fmt.Errorf("has no component for the image's linux/%s binary", arch)
		}
		delete(apps, arch)
		var mods []cdx.Component
		if app.Components != nil {
			mods = *app.Components
		}
		if err := checkApp(app, app.Properties, mods, bin, version); err != nil {
			return fmt.Errorf("linux/%s: %w", arch, err)
		}
	}
	for arch := range apps {
		return fmt.Errorf("lists a linux/%s binary the image does not hold", arch)
	}
	return nil
}

// checkApp holds one application component, its properties and its module
// components against a binary.
func checkApp(app cdx.Component, props *[]cdx.Property, comps []cdx.Component, bin []byte, version string) error {
	bi, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("the binary has no Go build information: %w", err)
	}
	var problems []string
	if app.Name != bi.Main.Path || app.Version != version {
		problems = append(problems, fmt.Sprintf("its main module is %s %s, the binary's is %s %s", app.Name, app.Version, bi.Main.Path, version))
	}
	if got := property(props, propPrefix+"binary:hash:SHA-256"); got != sha256Hex(bin) {
		problems = append(problems, fmt.Sprintf("it gives the binary's SHA-256 as %q, the binary's is %s", got, sha256Hex(bin)))
	}
	if got := property(props, propPrefix+"build:env:GOVERSION"); got != bi.GoVersion {
		problems = append(problems, fmt.Sprintf("it names Go %q, the binary was built with %s", got, bi.GoVersion))
	}
	problems = append(problems, diffModules(fromSBOM(comps), fromBuildInfo(bi))...)
	return joinProblems(problems)
}

// fromBuildInfo is what the binary says it holds: each module (its
// replacement when replaced) with its version and the SHA-256 of its go.sum
// hash, as CycloneDX writes it, and the standard library as "std".
func fromBuildInfo(bi *buildinfo.BuildInfo) map[string]module {
	mods := map[string]module{"std": {version: bi.GoVersion}}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		mods[d.Path] = module{version: d.Version, sha256: h1Hex(d.Sum)}
	}
	return mods
}

// fromSBOM is what the SBOM says: each component's name, version and
// SHA-256; a name listed twice is kept under a marked key so it shows up
// as extra.
func fromSBOM(comps []cdx.Component) map[string]module {
	mods := map[string]module{}
	for _, c := range comps {
		m := module{version: c.Version}
		if c.Hashes != nil {
			for _, h := range *c.Hashes {
				if h.Algorithm == cdx.HashAlgoSHA256 {
					m.sha256 = h.Value
				}
			}
		}
		name := c.Name
		if _, dup := mods[name]; dup {
			name += " (a second time)"
		}
		mods[name] = m
	}
	return mods
}

// diffModules lists, sorted, what the SBOM lacks, adds or gets wrong.
func diffModules(sbom, binary map[string]module) []string {
	var out []string
	for path, want := range binary {
		got, ok := sbom[path]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("the binary holds %s %s, which the SBOM does not list", path, want.version))
		case got.version != want.version:
			out = append(out, fmt.Sprintf("it lists %s %s, the binary holds %s", path, got.version, want.version))
		case got.sha256 != want.sha256:
			out = append(out, fmt.Sprintf("its hash of %s %s is %q, the binary's go.sum hash gives %q", path, want.version, got.sha256, want.sha256))
		}
	}
	for path, got := range sbom {
		if _, ok := binary[path]; !ok {
			out = append(out, fmt.Sprintf("it lists %s %s, which the binary does not hold", path, got.version))
		}
	}
	sort.Strings(out)
	return out
}

func joinProblems(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	more := ""
	if len(problems) > maxProblems {
		more = fmt.Sprintf("; and %d more", len(problems)-maxProblems)
		problems = problems[:maxProblems]
	}
	return errors.New(strings.Join(problems, "; ") + more)
}

func property(props *[]cdx.Property, name string) string {
	if props == nil {
		return ""
	}
	for _, p := range *props {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// h1Hex is a go.sum "h1:" hash as the hex of its SHA-256, the form
// cyclonedx-gomod writes; empty for anything else.
func h1Hex(sum string) string {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sum, "h1:"))
	if err != nil || !strings.HasPrefix(sum, "h1:") {
		return ""
	}
	return hex.EncodeToString(raw)
}
